"""Batch normalization at inference as an affine map, and folded into the
convolution before it."""
import numpy as np


def batch_norm_affine(gamma, beta, mean, denominator):
    """``(scale, shift)`` with ``BN(x) = x * scale + shift`` per channel.

    ``denominator`` is what the layer divides ``x - mean`` by at inference
    (``sqrt(var + eps)`` for Chainer and later Keras; ``std + eps`` for
    Keras <= 1.0.6, see
    :class:`~chainer_tagger.links.KerasBatchNormalization`).
    """
    scale = gamma / denominator
    return scale, beta - mean * scale


def fold_batch_norm(W, b, scale, shift):
    """A convolution followed by ``x * scale + shift`` per output channel,
    as one convolution: returns ``(W', b')`` with
    ``conv(x, W', b') == conv(x, W, b) * scale + shift``.

    ``W`` is ``(out_channels, ...)``; arrays in, arrays out (float32).
    """
    shape = (-1,) + (1,) * (W.ndim - 1)
    folded_W = (W * scale.reshape(shape)).astype(np.float32, copy=False)
    folded_b = (b * scale + shift).astype(np.float32, copy=False)
    return folded_W, folded_b
