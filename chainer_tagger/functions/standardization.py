"""Standardizing a trained head's input feature by feature, with
statistics of training examples (music2vec's SoundNet output, a fine-tuned
CRNN's conv-block output)."""
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.kernel_choice import host_only


@host_only
def standardization_statistics(h, floor):
    """``(mean, scale)`` over the examples (first axis) of ``h``, each of
    ``h.shape[1:]``, float32: accumulated in float64, the scale being the
    standard deviation plus ``floor`` (a feature that never varies is not
    blown up)."""
    h = np.asarray(chainer.backends.cuda.to_cpu(h), np.float64)
    return (h.mean(axis=0).astype(np.float32),
            (h.std(axis=0) + floor).astype(np.float32))


def standardize(h, mean, scale):
    """``(h - mean) / scale``, ``mean`` and ``scale`` broadcast over the
    examples of ``h``."""
    mean = F.broadcast_to(mean, h.shape)
    return (h - mean) / F.broadcast_to(scale, h.shape)
