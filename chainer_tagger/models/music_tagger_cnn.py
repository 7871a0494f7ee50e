"""Choi's MusicTaggerCNN (and the early mode-2 AudioConvnet, "CNN0")."""
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import CNN_BLOCKS, MSD_TAGS, N_FRAMES
from chainer_tagger.links import KerasBatchNormalization, KerasConvBlock
from chainer_tagger.models.melgram_tagger import (MelgramTagger,
                                                  keras_setting)
from chainer_tagger.pretrained import registry


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
    keras : str, optional
        The Keras-1 release whose BatchNormalization to follow (a preset of
        :data:`~chainer_tagger.configuration.KERAS_PRESETS`; default
        ``1.0.6-theano``).
    per_clip : bool
        With ``bn_mode=2``, normalize each clip on its own statistics.
    running_std_is : {'std', 'variance'}, optional
        The former name of ``keras`` (``'1.0.6-theano'`` or
        ``'1.1-theano'``).
    exclusive_classes : bool
        Softmax over classes instead of a sigmoid per tag (see
        :meth:`with_classes`).
    pretrained_model : str, optional
        ``'cnn-msd'``, ``'cnn0-msd'`` or a converted ``.npz``.
    """

    arch = 'cnn'

    def __init__(self, tags=MSD_TAGS, bn_mode=0, keras=None, per_clip=False,
                 running_std_is=None, exclusive_classes=False,
                 pretrained_model=None):
        path, settings = self._pretrained_settings(pretrained_model, dict(
            tags=tags, bn_mode=bn_mode, keras=keras, per_clip=per_clip,
            running_std_is=running_std_is,
            exclusive_classes=exclusive_classes))
        settings = self._classes_setting(settings)
        settings['keras'] = keras_setting(
            settings['keras'], settings.pop('running_std_is'), '1.0.6-theano')
        super().__init__(settings['tags'])
        self.settings = settings
        with self.init_scope():
            self.bn_0_freq = KerasBatchNormalization(
                N_FRAMES, axis=3, mode=0,
                keras=settings['keras'])
            in_channels = 1
            for i, (channels, pool) in enumerate(CNN_BLOCKS, 1):
                setattr(self, 'block{}'.format(i), KerasConvBlock(
                    in_channels, channels, pool, dropout=0.5,
                    bn_mode=settings['bn_mode'],
                    keras=settings['keras'],
                    per_clip=settings['per_clip']))
                in_channels = channels
            self.output = L.Linear(in_channels, len(self.tags))
        if path is not None:
            registry.load_weights(path, self)

    def features(self, x):
        """The 256 activations of the last conv block, flattened."""
        h = self.bn_0_freq(x)
        for i in range(1, len(CNN_BLOCKS) + 1):
            h = self['block{}'.format(i)](h)
        return F.reshape(h, (h.shape[0], -1))
