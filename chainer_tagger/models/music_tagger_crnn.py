"""Choi's MusicTaggerCRNN: four conv blocks and two Keras GRUs."""
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (
    CRNN_BLOCKS, CRNN_GRU_UNITS, CRNN_TIME_PADDING, MSD_TAGS, N_FRAMES)
from chainer_tagger.links import (KerasBatchNormalization, KerasConvBlock,
                                  KerasGRU)
from chainer_tagger.models.melgram_tagger import (MelgramTagger,
                                                  keras_setting)
from chainer_tagger.pretrained import registry


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
    keras : str, optional
        The Keras-1 release whose BatchNormalization to follow (a preset of
        :data:`~chainer_tagger.configuration.KERAS_PRESETS`; default
        ``1.1-theano``).
    per_clip : bool
        With ``bn_mode=2``, normalize each clip on its own statistics.
    running_std_is : {'std', 'variance'}, optional
        The former name of ``keras`` (``'1.0.6-theano'`` or
        ``'1.1-theano'``).
    pretrained_model : str, optional
        A registry name (``'crnn-msd'``, ``'crnn-gtzan'``, ``'rnn0-msd'``) or
        a converted ``.npz``; its settings override the arguments above.
    """

    feature_dropout = 0.3
    arch = 'crnn'

    def __init__(self, tags=MSD_TAGS, bn_mode=0, keras=None, per_clip=False,
                 running_std_is=None, pretrained_model=None):
        path, settings = self._pretrained_settings(pretrained_model, dict(
            tags=tags, bn_mode=bn_mode, keras=keras, per_clip=per_clip,
            running_std_is=running_std_is))
        settings['keras'] = keras_setting(
            settings['keras'], settings.pop('running_std_is'), '1.1-theano')
        super().__init__(settings['tags'])
        self.settings = settings
        conv_dropout = 0.1 if settings['bn_mode'] == 0 else 0.5
        with self.init_scope():
            self.bn_0_freq = KerasBatchNormalization(
                N_FRAMES + 2 * CRNN_TIME_PADDING, axis=3, mode=0,
                keras=settings['keras'])
            in_channels = 1
            for i, (channels, pool) in enumerate(CRNN_BLOCKS, 1):
                setattr(self, 'block{}'.format(i), KerasConvBlock(
                    in_channels, channels, pool, dropout=conv_dropout,
                    bn_mode=settings['bn_mode'],
                    keras=settings['keras'],
                    per_clip=settings['per_clip']))
                in_channels = channels
            units = CRNN_GRU_UNITS
            self.gru1 = KerasGRU(in_channels, units, return_sequences=True)
            self.gru2 = KerasGRU(units, units)
            self.output = L.Linear(units, len(self.tags))
        if path is not None:
            registry.load_weights(path, self)

    def features(self, x):
        """The 32-d state of the second GRU."""
        pad = CRNN_TIME_PADDING
        h = F.pad(x, ((0, 0), (0, 0), (0, 0), (pad, pad)), 'constant')
        h = self.bn_0_freq(h)
        for i in range(1, len(CRNN_BLOCKS) + 1):
            h = self['block{}'.format(i)](h)
        # (N, 128, 1, 15) -> (N, 15, 128): time steps of 128 features.
        n, c, f, t = h.shape
        h = F.transpose(F.reshape(h, (n, c * f, t)), (0, 2, 1))
        return self.gru2(self.gru1(h))
