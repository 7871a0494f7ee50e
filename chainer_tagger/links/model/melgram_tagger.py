"""What every mel-spectrogram tagger of the zoo shares."""
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.tags import VOCABULARIES

N_MELS = 96
N_FRAMES = 1366


def resolve_tags(tags):
    """Return a tuple of tag names from a vocabulary name or a sequence."""
    if isinstance(tags, str):
        try:
            return VOCABULARIES[tags]
        except KeyError:
            raise ValueError('unknown tag vocabulary {!r} (known: {})'.format(
                tags, ', '.join(sorted(VOCABULARIES)))) from None
    return tuple(tags)


def as_melgram_batch(melgrams):
    """Return ``melgrams`` as a float32 batch of shape ``(N, 1, 96, 1366)``.

    Accepts one melgram ``(96, 1366)``, ``(1, 96, 1366)`` or a batch
    ``(N, 96, 1366)`` / ``(N, 1, 96, 1366)``.
    """
    x = np.asarray(melgrams)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None] if x.shape[0] != 1 or x.shape[1] != 1 else x[None]
    if x.ndim != 4 or x.shape[1:] != (1, N_MELS, N_FRAMES):
        raise ValueError(
            'expected mel-spectrograms of shape (96, 1366) or '
            '(N, 1, 96, 1366), got {}'.format(np.asarray(melgrams).shape))
    return x.astype(np.float32, copy=False)


def run_in_batches(link, method, x, batch_size):
    """``method`` over ``x`` in inference mode, batch by batch, to NumPy.

    Batches go to the link's device and the results come back to the CPU.
    """
    out = []
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', False):
        for i in range(0, len(x), batch_size):
            xb = link.xp.asarray(x[i:i + batch_size])
            out.append(chainer.backends.cuda.to_cpu(method(xb).array))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


class MelgramTagger(chainer.Chain):
    """Base of the taggers: a feature network and a sigmoid classifier.

    Subclasses define :meth:`features` and a ``output`` child
    (:class:`chainer.links.Linear`).  Inputs are log-amplitude
    mel-spectrograms of shape ``(N, 1, 96, 1366)``
    (see :func:`chainer_tagger.features.melgram`).
    """

    #: Dropout applied to the features before the classifier (training only).
    feature_dropout = 0.0

    def __init__(self, tags):
        super().__init__()
        self.tags = resolve_tags(tags)

    def features(self, x):
        raise NotImplementedError

    def logits(self, x):
        """Scores before the sigmoid, for training losses."""
        h = self.features(x)
        if self.feature_dropout:
            h = F.dropout(h, self.feature_dropout)
        return self.output(h)

    def forward(self, x):
        """Sigmoid scores, one per tag (Keras' ``include_top=True``)."""
        return F.sigmoid(self.logits(x))

    def _run(self, method, melgrams, batch_size):
        x = as_melgram_batch(melgrams)
        return run_in_batches(self, method, x, batch_size or len(x) or 1)

    def predict(self, melgrams, batch_size=None):
        """Tag scores in [0, 1] as a NumPy array of shape ``(N, n_tags)``.

        Runs in inference mode.  With ``batch_size=None`` all clips form one
        batch, which matters only for models with Keras BN mode 2, whose
        outputs depend on the batch (see
        :class:`~chainer_tagger.links.KerasBatchNormalization`).
        """
        return self._run(self.forward, melgrams, batch_size)

    def extract(self, melgrams, batch_size=None):
        """The features before the classifier (Keras' ``include_top=False``)."""
        return self._run(self.features, melgrams, batch_size)
