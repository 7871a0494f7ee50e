"""Choi's MusicTaggerCNN (and the early mode-2 AudioConvnet, "CNN0")."""
import chainer.functions as F
import chainer.links as L

from chainer_tagger.links.keras_batch_normalization import (
    KerasBatchNormalization)
from chainer_tagger.links.keras_conv_block import KerasConvBlock
from chainer_tagger.links.model.melgram_tagger import (
    MelgramTagger, N_FRAMES)
from chainer_tagger.tags import MSD_TAGS

#: (out_channels, pooling) of the conv blocks.
BLOCKS = ((32, (2, 4)), (128, (2, 4)), (128, (2, 4)), (192, (3, 5)),
          (256, (4, 4)))


class MusicTaggerCNN(MelgramTagger):
    """Fully convolutional tagger (Choi, Fazekas & Sandler, ISMIR 2016).

    ``(N, 1, 96, 1366)`` log mel-spectrograms are normalized per time frame,
    passed through five conv blocks down to ``(N, 256, 1, 1)``; the 256
    values are the feature, and a sigmoid dense layer gives one score per
    tag.

    Parameters
    ----------
    tags : str or sequence of str
    bn_mode : {0, 2}
        Keras BN mode of the conv blocks: 0 for MusicTaggerCNN, 2 for the
        early AudioConvnet ("CNN0"), whose conv blocks use the statistics of
        the batch at test time too.
    running_std_is : {'variance', 'std'}
    per_clip : bool
        With ``bn_mode=2``, normalize each clip on its own statistics.
    pretrained_model : str, optional
        ``'cnn-msd'``, ``'cnn0-msd'`` or a converted ``.npz``.
    """

    arch = 'cnn'

    def __init__(self, tags=MSD_TAGS, bn_mode=0, running_std_is='std',
                 per_clip=False, pretrained_model=None):
        from chainer_tagger import pretrained
        settings = dict(tags=tags, bn_mode=bn_mode,
                        running_std_is=running_std_is, per_clip=per_clip)
        path = None
        if pretrained_model is not None:
            path, model_settings = pretrained.prepare(pretrained_model,
                                                      self.arch)
            settings.update(model_settings)
        super().__init__(settings['tags'])
        self.settings = settings
        with self.init_scope():
            self.bn_0_freq = KerasBatchNormalization(
                N_FRAMES, axis=3, mode=0,
                running_std_is=settings['running_std_is'])
            in_channels = 1
            for i, (channels, pool) in enumerate(BLOCKS, 1):
                setattr(self, 'block{}'.format(i), KerasConvBlock(
                    in_channels, channels, pool, dropout=0.5,
                    bn_mode=settings['bn_mode'],
                    running_std_is=settings['running_std_is'],
                    per_clip=settings['per_clip']))
                in_channels = channels
            self.output = L.Linear(in_channels, len(self.tags))
        if path is not None:
            pretrained.load_weights(path, self)

    def features(self, x):
        """The 256 activations of the last conv block, flattened."""
        h = self.bn_0_freq(x)
        for i in range(1, len(BLOCKS) + 1):
            h = self['block{}'.format(i)](h)
        return F.reshape(h, (h.shape[0], -1))
