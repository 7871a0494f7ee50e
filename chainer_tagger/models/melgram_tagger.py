"""What every mel-spectrogram tagger of the zoo shares."""
import functools

import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (
    MELGRAM_INPUT, N_FRAMES, N_MELS, PRECISIONS, RUNNING_STD_ALIASES,
    keras_preset, resolve_tags)
from chainer_tagger.errors import InputError, ModelFileError
from chainer_tagger.functions.kernel_choice import host_only
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.pretrained import registry


@host_only
def as_melgram_batch(melgrams, dtype=np.float32):
    """Return ``melgrams`` as a batch of shape ``(N, 1, 96, 1366)`` in
    ``dtype`` (the model's: float32, or float64 for reference runs).

    Accepts one melgram ``(96, 1366)``, ``(1, 96, 1366)`` or a batch
    ``(N, 96, 1366)`` / ``(N, 1, 96, 1366)``.
    """
    x = np.asarray(melgrams)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None] if x.shape[0] != 1 or x.shape[1] != 1 else x[None]
    if x.ndim != 4 or x.shape[1:] != (1, N_MELS, N_FRAMES):
        raise InputError(
            'expected mel-spectrograms of shape (96, 1366) or '
            '(N, 1, 96, 1366), got {}'.format(np.asarray(melgrams).shape))
    return x.astype(dtype, copy=False)


def keras_setting(keras, running_std_is, default):
    """The Keras preset name a tagger is built with.

    ``keras`` wins; else the former ``running_std_is`` setting of older
    model files (``'std'``: 1.0.6-theano, ``'variance'``: 1.1-theano); else
    ``default``.  An unknown name is refused, listing the known presets.
    """
    if keras is None and running_std_is is not None:
        try:
            keras = RUNNING_STD_ALIASES[running_std_is]
        except KeyError:
            raise ModelFileError(
                "running_std_is must be 'std' or 'variance', not {!r}"
                .format(running_std_is)) from None
    return keras_preset(default if keras is None else keras).name


class MelgramTagger(chainer.Chain):
    """Base of the taggers: a feature network and a sigmoid classifier.

    Subclasses define :meth:`features` and an ``output`` child
    (:class:`chainer.links.Linear`).  Inputs are log-amplitude
    mel-spectrograms of shape ``(N, 1, 96, 1366)``
    (see :func:`chainer_tagger.audio.melgram`).

    What a model of the zoo declares (the code asks these, never attribute
    names): ``clip_input`` (what one input is made of), ``tags`` (class
    names, or None for a model without a classifier), ``exclusive_classes``
    (softmax over classes rather than independent sigmoid tags),
    ``batch_dependent`` (scores that depend on the batch),
    ``arch`` and ``settings`` (what rebuilds it from a model file),
    ``model_name`` (the registry name or file it was loaded from),
    ``precisions`` (the float types it can run in; build it under
    ``chainer.using_config('dtype', numpy.float64)`` for float64),
    ``dtype`` (the one it runs in) and ``weights_sha256`` (what identifies
    its weights in a library store).
    """

    exclusive_classes = False
    #: Settings a model file may give the constructor, and their types.
    #: (``running_std_is`` is the former name of ``keras``, in older files.)
    settings_types = {'tags': (str, list), 'bn_mode': int, 'keras': str,
                      'running_std_is': str, 'per_clip': bool}
    precisions = PRECISIONS
    #: Dropout applied to the features before the classifier (training only).
    feature_dropout = 0.0
    model_name = None
    #: sha256 of the weights it was loaded from (set by ``load_model``).
    weights_sha256 = None

    def __init__(self, tags):
        super().__init__()
        self.tags = resolve_tags(tags)

    @classmethod
    def _pretrained_settings(cls, pretrained_model, settings):
        """``(npz path or None, settings)``: a pretrained model's settings
        override the constructor's."""
        if pretrained_model is None:
            return None, settings
        path, meta = registry.prepare(pretrained_model, {cls.arch: cls},
                                      cls.arch)
        return path, dict(settings, **meta['settings'])

    @property
    def clip_input(self):
        """Choi's melgram window; past the end of a short clip, zeros (as
        the originals) or the clip again (``input_fill='loop'``)."""
        return MELGRAM_INPUT._replace(
            fill=self.settings.get('input_fill', 'zeros'))

    def features(self, x):
        raise NotImplementedError

    @property
    def batch_dependent(self):
        """Whether a clip's scores depend on the other clips of its batch
        (Keras BN mode 2, unless ``per_clip``)."""
        return self.settings.get('bn_mode') == 2 and \
            not self.settings.get('per_clip')

    @property
    def dtype(self):
        """The float type of the weights, which inputs are cast to."""
        return self.output.W.dtype

    @property
    def feature_size(self):
        return self.output.W.shape[1]

    def logits(self, x):
        """Scores before the sigmoid, for training losses."""
        h = self.features(x)
        if self.feature_dropout:
            h = F.dropout(h, self.feature_dropout)
        return self.output(h)

    def forward(self, x):
        """Sigmoid scores, one per tag (Keras' ``include_top=True``)."""
        return F.sigmoid(self.logits(x))

    def with_classes(self, tags):
        """Replace the classifier by a new, randomly initialised one for
        ``tags`` (transfer learning); returns the model."""
        self.tags = resolve_tags(tags)
        self.settings = dict(self.settings, tags=list(self.tags))
        n_features = self.feature_size
        del self.output
        with self.init_scope():
            self.output = L.Linear(n_features, len(self.tags))
        self.output.to_device(self.device)
        return self

    def _run(self, method, melgrams, batch_size):
        prepare = functools.partial(as_melgram_batch, dtype=self.dtype)
        if isinstance(melgrams, np.ndarray):
            melgrams = prepare(melgrams)
        return run_in_batches(self, method, melgrams, batch_size, prepare)

    def predict(self, melgrams, batch_size=None):
        """Tag scores in [0, 1] as a NumPy array of shape ``(N, n_tags)``.

        ``melgrams``: one melgram, a batch, or any sequence of melgrams
        (read a batch at a time).  Runs in inference mode.  With
        ``batch_size=None`` all clips form one
        batch, which matters only for models with Keras BN mode 2, whose
        outputs depend on the batch (see
        :class:`~chainer_tagger.links.KerasBatchNormalization`).
        """
        return self._run(self.forward, melgrams, batch_size)

    def extract(self, melgrams, batch_size=None):
        """The features before the classifier (Keras'
        ``include_top=False``)."""
        return self._run(self.features, melgrams, batch_size)
