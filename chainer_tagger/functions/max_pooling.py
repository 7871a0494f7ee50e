"""Non-overlapping max pooling of one clip, compiled (Numba), with the
position of each maximum for the backward pass."""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import functools

import numba
import numpy as np


@functools.lru_cache(maxsize=None)
def max_pool_kernel(ph, pw):
    """The compiled max pooling by ``(ph, pw)`` windows of one clip:
    ``kernel(x, flip, pooled, offsets)``.

    ``x`` is ``(C, H, W)``, pooled where ``flip[c]`` is false and its
    negative pooled where it is true (ragged border dropped); the input
    value at each window's first maximum goes to ``pooled``, its position
    in the window (``a * pw + b``) to ``offsets``.  The window is compiled
    in: with constant strides the branch-free inner loops vectorize (3x
    faster than with the window as an argument).
    """
    @numba.njit(nogil=True, cache=True)
    def pool(x, flip, pooled, offsets):
        for i in range(x.shape[0]):
            for u in range(pooled.shape[1]):
                best = pooled[i, u]
                where = offsets[i, u]
                row = x[i, u * ph]
                for v in range(best.shape[0]):
                    best[v] = row[v * pw]
                    where[v] = 0
                for a in range(ph):
                    row = x[i, u * ph + a]
                    for b in range(pw):
                        k = np.uint8(a * pw + b)
                        if k == 0:
                            continue
                        if flip[i]:
                            for v in range(best.shape[0]):
                                value = row[v * pw + b]
                                larger = value < best[v]
                                best[v] = value if larger else best[v]
                                where[v] = k if larger else where[v]
                        else:
                            for v in range(best.shape[0]):
                                value = row[v * pw + b]
                                larger = value > best[v]
                                best[v] = value if larger else best[v]
                                where[v] = k if larger else where[v]
    return pool


def max_pool(x, window, flip=None):
    """``(pooled, offsets)`` of one clip ``(C, H, W)`` (see
    :func:`max_pool_kernel`); ``flip`` (per channel, default none) pools
    ``-x`` and returns the input values at the minima."""
    c, h, w = x.shape
    pooled = np.empty((c, h // window[0], w // window[1]), x.dtype)
    offsets = np.empty(pooled.shape, np.uint8)
    if flip is None:
        flip = np.zeros(c, bool)
    max_pool_kernel(*window)(x, flip, pooled, offsets)
    return pooled, offsets
