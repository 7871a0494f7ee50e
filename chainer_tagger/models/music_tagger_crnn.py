"""Choi's MusicTaggerCRNN: four conv blocks and two Keras GRUs."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (
    CRNN_BLOCKS, CRNN_GRU_UNITS, CRNN_TIME_PADDING, MSD_TAGS, N_FRAMES,
    HEAD_INPUT_SCALE_FLOOR, check_fill)
from chainer_tagger.functions.standardization import (
    standardization_statistics, standardize)
from chainer_tagger.links import (KerasBatchNormalization, KerasConvBlock,
                                  KerasGRU)
from chainer_tagger.models.melgram_tagger import (MelgramTagger,
                                                  keras_setting)
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.model_file import FILL_SETTING


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
    input_fill : {'zeros', 'loop'}
        What a window holds past the end of a short clip (see
        :data:`~chainer_tagger.configuration.WINDOW_FILLS`).
    freeze_body : bool
        Keep the input BN and the conv blocks fixed (see
        :meth:`freeze_body`).
    standardized_body : bool
        Standardize the conv blocks' output before the GRUs
        (``body_mean``, ``body_scale``; set by
        :meth:`standardize_head_input` when a genre head is trained).
    exclusive_classes : bool
        Softmax over classes instead of a sigmoid per tag (a genre head
        fine-tuned by ``train``; see :meth:`with_classes`).
    pretrained_model : str, optional
        A registry name (``'crnn-msd'``, ``'crnn-gtzan'``, ``'rnn0-msd'``) or
        a converted ``.npz``; its settings override the arguments above.

    Notes
    -----
    For training, the model is a *body* (input BN and conv blocks,
    :meth:`body`) and a *head* (the GRUs and the classifier,
    :meth:`head`): with the body frozen its output for a window never
    changes, so a training run computes it once per window.
    """

    feature_dropout = 0.3
    arch = 'crnn'
    settings_types = dict(MelgramTagger.settings_types,
                          input_fill=FILL_SETTING,
                          freeze_body=bool, standardized_body=bool)

    def __init__(self, tags=MSD_TAGS, bn_mode=0, keras=None, per_clip=False,
                 running_std_is=None, input_fill='zeros', freeze_body=False,
                 standardized_body=False, exclusive_classes=False,
                 pretrained_model=None):
        path, settings = self._pretrained_settings(pretrained_model, dict(
            tags=tags, bn_mode=bn_mode, keras=keras, per_clip=per_clip,
            running_std_is=running_std_is, input_fill=input_fill,
            freeze_body=freeze_body, standardized_body=standardized_body,
            exclusive_classes=exclusive_classes))
        settings = self._classes_setting(settings)
        settings['keras'] = keras_setting(
            settings['keras'], settings.pop('running_std_is'), '1.1-theano')
        check_fill(settings['input_fill'])
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
        if settings['standardized_body']:
            self._add_body_standardization()
        if path is not None:
            registry.load_weights(path, self)
        if settings['freeze_body']:
            self.freeze_body()

    def body_links(self):
        """The links of :meth:`body`."""
        return [self.bn_0_freq] + [self['block{}'.format(i)]
                                   for i in range(1, len(CRNN_BLOCKS) + 1)]

    def freeze_body(self):
        """Keep the input BN and the conv blocks fixed: no updates, and
        inference mode (running BN statistics, no dropout) even while the
        head trains."""
        self.settings = dict(self.settings, freeze_body=True)
        for link in self.body_links():
            link.disable_update()
        return self

    def body(self, x):
        """The conv blocks' output as a sequence, ``(N, 15, 128)``: 15 time
        steps of 128 features."""
        if self.settings.get('freeze_body') and chainer.config.train:
            # Frozen: inference mode, and no graph to backpropagate into.
            with chainer.using_config('train', False), \
                    chainer.no_backprop_mode():
                return self._body(x)
        return self._body(x)

    def _body(self, x):
        pad = CRNN_TIME_PADDING
        h = F.pad(x, ((0, 0), (0, 0), (0, 0), (pad, pad)), 'constant')
        h = self.bn_0_freq(h)
        for link in self.body_links()[1:]:
            h = link(h)
        # (N, 128, 1, 15) -> (N, 15, 128): time steps of 128 features.
        n, c, f, t = h.shape
        return F.transpose(F.reshape(h, (n, c * f, t)), (0, 2, 1))

    def _add_body_standardization(self):
        steps = N_FRAMES + 2 * CRNN_TIME_PADDING
        for _, (_, time_pool) in CRNN_BLOCKS:
            steps //= time_pool
        shape = (steps, CRNN_BLOCKS[-1][0])
        self.add_persistent('body_mean', self.device.send(
            np.zeros(shape, np.float32)))
        self.add_persistent('body_scale', self.device.send(
            np.ones(shape, np.float32)))

    def standardize_head_input(self, h):
        """Standardize the GRUs' input from now on, with body outputs
        ``(N, 15, 128)`` of training windows: each feature at each step to
        mean 0 and standard deviation 1.

        Why, though the conv blocks end in batch normalization: after the
        ELU and the max pooling their output is neither centred nor of unit
        scale, and it differs between steps (the first and last steps see
        the 37 frames of zero padding on each side); on gtzan-mini, a new
        genre head on the standardized sequence learned where one on the
        raw sequence stayed near chance (README, "Held-out accuracy").
        The statistics are saved with the model
        (``standardized_body``), so ``tag`` and ``evaluate`` use them.
        """
        mean, scale = standardization_statistics(h, HEAD_INPUT_SCALE_FLOOR)
        if not self.settings.get('standardized_body'):
            self.settings = dict(self.settings, standardized_body=True)
            self._add_body_standardization()
        self.body_mean[...] = self.device.send(mean)
        self.body_scale[...] = self.device.send(scale)
        return self

    def recurrent(self, h):
        """The two GRUs on a body output (standardized first, if the model
        has :meth:`standardize_head_input` statistics): the 32-d last
        state."""
        if self.settings.get('standardized_body'):
            h = standardize(h, self.body_mean, self.body_scale)
        return self.gru2(self.gru1(h))

    def features(self, x):
        """The 32-d state of the second GRU."""
        return self.recurrent(self.body(x))

    def head(self, h):
        """Logits (before :meth:`scores`) from a :meth:`body` output."""
        h = self.recurrent(h)
        if self.feature_dropout:
            h = F.dropout(h, self.feature_dropout)
        return self.output(h)
