"""A linear probe: logistic regression on the frozen features of another
model, as a model of its own."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (GTZAN_GENRES, check_fill,
                                          resolve_tags)
from chainer_tagger.models.architectures import FEATURE_ARCHITECTURES
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.models.class_scores import ClassScores
from chainer_tagger.models.melgram_tagger import as_melgram_batch
from chainer_tagger.models.soundnet import as_waveform_batch
from chainer_tagger.pretrained.model_file import (FILL_SETTING,
                                                  TAGS_SETTING,
                                                  validate_meta)


class LinearProbe(ClassScores, chainer.Chain):
    """Softmax over classes of a linear function of a frozen model's
    standardized features.

    The strong baseline for small data: the features of a pretrained model
    (``extract``: SoundNet's scene output, a CRNN's 32 GRU states, a CNN's
    256 activations), standardized with the training set's mean and
    standard deviation, and a multinomial logistic regression on them
    (fitted by :func:`chainer_tagger.training.fit_probe` with
    scikit-learn, then stored as an ordinary linear layer).  It is tagged,
    evaluated and exported like any model of the zoo; its model file holds
    the feature model's weights too.

    Parameters
    ----------
    tags : str or sequence
        Class names.
    feature_arch : str
        Architecture of the feature model (a key of
        :data:`~chainer_tagger.models.architectures.FEATURE_ARCHITECTURES`).
    feature_settings : dict
        Its settings (what rebuilds it).
    features_from : str
        The registry name or file the features came from (for reports).
    input_fill : {'zeros', 'loop'}
        What a window holds past the end of a short clip.
    """

    arch = 'probe'
    exclusive_classes = True
    model_name = None
    settings_types = {'tags': TAGS_SETTING, 'feature_arch': str,
                      'feature_settings': dict,
                      'features_from': (str, type(None)),
                      'input_fill': FILL_SETTING}
    #: The standardization and the classifier are stored in float32.
    precisions = ('float32',)

    def __init__(self, tags=GTZAN_GENRES, feature_arch='soundnet',
                 feature_settings=None, features_from=None,
                 input_fill='loop'):
        super().__init__()
        self.tags = resolve_tags(tags)
        feature_settings = dict(feature_settings or {})
        # The feature model's settings come from the same file: they pass
        # the same checks as a model file's own.
        validate_meta({'arch': feature_arch, 'settings': feature_settings},
                      FEATURE_ARCHITECTURES, 'the features of a probe')
        self.settings = dict(tags=list(self.tags), feature_arch=feature_arch,
                             feature_settings=feature_settings,
                             features_from=features_from,
                             input_fill=input_fill)
        with self.init_scope():
            self.feature_model = FEATURE_ARCHITECTURES[feature_arch](
                **feature_settings)
        self.feature_model.disable_update()
        self.clip_input = self.feature_model.clip_input._replace(
            fill=check_fill(input_fill))
        size = self.feature_model.feature_size
        self.add_persistent('feature_mean', np.zeros(size, np.float32))
        self.add_persistent('feature_scale', np.ones(size, np.float32))
        with self.init_scope():
            self.output = L.Linear(size, len(self.tags),
                                   initialW=chainer.initializers.Zero())

    @property
    def feature_size(self):
        return self.feature_model.feature_size

    @property
    def batch_dependent(self):
        """As the feature model's scores (Keras BN mode 2)."""
        return self.feature_model.batch_dependent

    def body_links(self):
        """The links of :meth:`body`: the feature model."""
        return [self.feature_model]

    def body(self, x):
        """The feature model's features (frozen: always in inference
        mode)."""
        with chainer.using_config('train', False):
            return self.feature_model.features(x)

    features = body

    def head(self, h):
        """Class scores before the softmax from :meth:`body` features."""
        h = (h - F.broadcast_to(self.feature_mean, h.shape)) \
            / F.broadcast_to(self.feature_scale, h.shape)
        return self.output(h)

    def logits(self, x):
        return self.head(self.body(x))

    def set_classifier(self, mean, scale, weights, bias):
        """Store a fitted standardization and linear classifier
        (``weights``: ``(n_classes, n_features)``)."""
        for target, value in ((self.feature_mean, mean),
                              (self.feature_scale, scale),
                              (self.output.W.array, weights),
                              (self.output.b.array, bias)):
            target[...] = self.device.send(np.asarray(value, np.float32))
        return self

    def _run(self, method, inputs, batch_size):
        prepare = as_melgram_batch if self.clip_input.kind == 'melgram' \
            else as_waveform_batch
        if isinstance(inputs, np.ndarray) and self.clip_input.kind == \
                'melgram':
            inputs = as_melgram_batch(inputs)
        return run_in_batches(self, method, inputs, batch_size, prepare)

    def predict(self, inputs, batch_size=8):
        """Class probabilities of model inputs (melgrams or waveforms, as
        the feature model takes them)."""
        return self._run(self.forward, inputs, batch_size)

    def extract(self, inputs, batch_size=8):
        """The feature model's features of model inputs."""
        return self._run(self.features, inputs, batch_size)
