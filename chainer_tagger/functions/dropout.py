"""Dropout on the CPU: a one-byte mask drawn clip by clip in parallel.

Chainer's ``F.dropout`` draws a float64 uniform number per value and keeps
its mask as a float array; after the CRNN's first conv block (17.7 M
values at batch 8) that took as long as the block's batch normalization.
Here the mask is drawn in float32 by NumPy's ``Generator``, one clip per
core, from a seed taken from NumPy's global generator (so a seeded run
stays reproducible), and applied by a compiled loop.
"""
import numba
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.kernel_choice import (
    cpu_kernels_apply, host_only)


@numba.njit(nogil=True, cache=True)
def _masked_scale(x, keep, scale, out):
    """``out = x * scale`` where ``keep``, else 0 (flat arrays)."""
    for j in range(x.shape[0]):
        out[j] = x[j] * scale if keep[j] else 0


@host_only
def _apply(x, keep, scale):
    out = np.empty_like(x)
    flat_x, flat_keep, flat_out = (a.reshape(len(a), -1)
                                   for a in (x, keep, out))
    factor = x.dtype.type(scale)

    def one_clip(i):
        _masked_scale(flat_x[i], flat_keep[i], factor, flat_out[i])

    for_each_clip(one_clip, len(x))
    return out


class MaskedScale(chainer.FunctionNode):
    """``x * scale`` where ``keep``, 0 elsewhere: linear, so its backward
    is itself (double backpropagation included)."""

    def __init__(self, keep, scale):
        self.keep = keep
        self.scale = scale

    def forward_cpu(self, inputs):
        return _apply(np.ascontiguousarray(inputs[0]), self.keep,
                      self.scale),

    def backward(self, indexes, grad_outputs):
        return MaskedScale(self.keep, self.scale).apply(grad_outputs)


@host_only
def dropout_mask(shape, ratio):
    """Which values dropout keeps (``(N, ...)`` bools), drawn clip by clip
    in parallel from child seeds of one seed drawn from NumPy's global
    generator."""
    keep = np.empty(shape, bool)
    seeds = np.random.SeedSequence(
        int(np.random.randint(2 ** 31))).spawn(shape[0])

    def one_clip(i):
        generator = np.random.default_rng(seeds[i])
        keep[i] = generator.random(shape[1:], dtype=np.float32) >= ratio

    for_each_clip(one_clip, shape[0])
    return keep


def dropout(x, ratio):
    """``F.dropout(x, ratio)``: the CPU kernel above on NumPy arrays (one
    clip per core), Chainer's function otherwise.  Only while training,
    as Chainer's."""
    if not chainer.config.train or ratio == 0:
        return chainer.as_variable(x)
    if not cpu_kernels_apply(x) or x.ndim < 2:
        return F.dropout(x, ratio)
    keep = dropout_mask(x.shape, ratio)
    return MaskedScale(keep, 1 / (1 - ratio)).apply((x,))[0]
