"""What every mel-spectrogram tagger of the zoo shares."""
import functools

import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (
    KERAS_BN_MODES, KERAS_PRESETS, MELGRAM_INPUT, N_FRAMES, N_MELS,
    PRECISIONS, RUNNING_STD_ALIASES, keras_preset, resolve_tags)
from chainer_tagger.errors import InputError, ModelFileError
from chainer_tagger.functions.kernel_choice import host_only
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.models.class_scores import ClassScores
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.model_file import Setting, TAGS_SETTING


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


def file_settings(cls, meta):
    """The settings a model file's ``_meta`` builds ``cls`` with.

    A tagger fine-tuned by ``train`` (its file records a ``training`` run)
    was fitted with softmax cross-entropy: files written before
    ``exclusive_classes`` was a setting lack it, and get it here, so they
    report the softmax they were trained with rather than sigmoids.
    """
    settings = dict(meta['settings'])
    if 'training' in meta and 'exclusive_classes' in cls.settings_types:
        settings.setdefault('exclusive_classes', True)
    return settings


class MelgramTagger(ClassScores, chainer.Chain):
    """Base of the taggers: a feature network and a classifier (sigmoid
    per tag; softmax over classes once fine-tuned to exclusive classes).

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

    #: Settings a model file may give the constructor, and their types.
    #: (``running_std_is`` is the former name of ``keras``, in older files.)
    settings_types = {
        'tags': TAGS_SETTING,
        'bn_mode': Setting(int, choices=KERAS_BN_MODES),
        'keras': Setting(str, choices=tuple(KERAS_PRESETS)),
        'running_std_is': Setting(str, choices=tuple(RUNNING_STD_ALIASES)),
        'per_clip': bool, 'exclusive_classes': bool}
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
        return path, dict(settings, **file_settings(cls, meta))

    @staticmethod
    def _classes_setting(settings):
        """``settings`` with ``exclusive_classes`` only when True: the
        published taggers' settings (which identify their results in a
        library store) stay as they were."""
        settings = dict(settings)
        if settings.pop('exclusive_classes', False):
            settings['exclusive_classes'] = True
        return settings

    @property
    def exclusive_classes(self):
        """Softmax over classes (a tagger fine-tuned to genres by
        ``train``) rather than a sigmoid per tag (the published taggers,
        ``crnn-gtzan`` included: jsalbert's genre top is a sigmoid
        layer)."""
        return bool(self.settings.get('exclusive_classes', False))

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
        """Scores before the output function (:meth:`scores`), for
        training losses."""
        h = self.features(x)
        if self.feature_dropout:
            h = F.dropout(h, self.feature_dropout)
        return self.output(h)

    def with_classes(self, tags, exclusive_classes=True):
        """Replace the classifier by a new, randomly initialised one for
        ``tags`` (transfer learning); returns the model.

        ``exclusive_classes``: the new classes exclude each other, as
        ``train`` fits them (softmax cross-entropy), so the model's scores
        become a softmax over them; False keeps a sigmoid per tag.
        """
        self.tags = resolve_tags(tags)
        self.settings = self._classes_setting(dict(
            self.settings, tags=list(self.tags),
            exclusive_classes=exclusive_classes))
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
        """Tag scores in [0, 1] as a NumPy array of shape ``(N, n_tags)``
        (:meth:`scores`: a sigmoid per tag, or a softmax over exclusive
        classes).

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
