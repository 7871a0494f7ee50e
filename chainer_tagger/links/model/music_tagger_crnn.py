"""Choi's MusicTaggerCRNN: four conv blocks and two Keras GRUs."""
import chainer.functions as F
import chainer.links as L

from chainer_tagger.links.keras_batch_normalization import (
    KerasBatchNormalization)
from chainer_tagger.links.keras_conv_block import KerasConvBlock
from chainer_tagger.links.keras_gru import KerasGRU
from chainer_tagger.links.model.melgram_tagger import (
    MelgramTagger, N_FRAMES)
from chainer_tagger.tags import MSD_TAGS

#: Zero frames added on each side of the time axis before the input BN.
TIME_PADDING = 37
#: (out_channels, pooling) of the conv blocks.
BLOCKS = ((64, (2, 2)), (128, (3, 3)), (128, (4, 4)), (128, (4, 4)))


class MusicTaggerCRNN(MelgramTagger):
    """Convolutional recurrent tagger (Choi et al., 2016).

    ``(N, 1, 96, 1366)`` log mel-spectrograms are zero-padded to 1440 frames,
    normalized per time frame (Keras BN with ``axis`` = time), passed through
    four conv blocks to a ``(N, 15, 128)`` sequence, then two GRUs of 32
    units; the last state (32-d) is the feature, and a sigmoid dense layer
    gives one score per tag.

    Parameters
    ----------
    tags : str or sequence of str
        ``'msd'`` (50 Last.fm tags), ``'gtzan'`` (10 genres) or names.
    bn_mode : {0, 2}
        Keras BN mode of the conv blocks: 0 for MusicTaggerCRNN, 2 for the
        early conv+GRU tagger ("RNN0").
    running_std_is : {'variance', 'std'}
        Meaning of Keras' ``running_std`` in the weights (Keras version).
    per_clip : bool
        With ``bn_mode=2``, normalize each clip on its own statistics.
    pretrained_model : str, optional
        A registry name (``'crnn-msd'``, ``'crnn-gtzan'``, ``'rnn0-msd'``) or
        a converted ``.npz``; its settings override the arguments above.
    """

    feature_dropout = 0.3
    arch = 'crnn'

    def __init__(self, tags=MSD_TAGS, bn_mode=0, running_std_is='variance',
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
        conv_dropout = 0.1 if settings['bn_mode'] == 0 else 0.5
        with self.init_scope():
            self.bn_0_freq = KerasBatchNormalization(
                N_FRAMES + 2 * TIME_PADDING, axis=3, mode=0,
                running_std_is=settings['running_std_is'])
            in_channels = 1
            for i, (channels, pool) in enumerate(BLOCKS, 1):
                setattr(self, 'block{}'.format(i), KerasConvBlock(
                    in_channels, channels, pool, dropout=conv_dropout,
                    bn_mode=settings['bn_mode'],
                    running_std_is=settings['running_std_is'],
                    per_clip=settings['per_clip']))
                in_channels = channels
            self.gru1 = KerasGRU(in_channels, 32, return_sequences=True)
            self.gru2 = KerasGRU(32, 32)
            self.output = L.Linear(32, len(self.tags))
        if path is not None:
            pretrained.load_weights(path, self)

    def features(self, x):
        """The 32-d state of the second GRU."""
        pad = TIME_PADDING
        h = F.pad(x, ((0, 0), (0, 0), (0, 0), (pad, pad)), 'constant')
        h = self.bn_0_freq(h)
        for i in range(1, len(BLOCKS) + 1):
            h = self['block{}'.format(i)](h)
        # (N, 128, 1, 15) -> (N, 15, 128): time steps of 128 features.
        n, c, f, t = h.shape
        h = F.transpose(F.reshape(h, (n, c * f, t)), (0, 2, 1))
        return self.gru2(self.gru1(h))
