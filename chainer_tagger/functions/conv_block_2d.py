"""The conv block of Choi's taggers: 3x3 'same' convolution, normalization,
ELU and non-overlapping max pooling, as one function."""
import os

import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.batch_norm_activation_pool import (
    batch_norm_activation_pool, channel_moments)
from chainer_tagger.functions.batch_norm_folding import fold_batch_norm
from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.convolution_3x3 import (
    convolution_3x3, im2col_3x3, pad_flat, strip_rows)
from chainer_tagger.functions.gemm import matmul, matmul_columns
from chainer_tagger.functions.kernel_choice import (
    cpu_kernels_apply, host_only)


def conv_bn_elu_pool_2d(x, W, b, pool, normalize, affine=None,
                        batch_statistics=None):
    """``max_pool(elu(normalize(conv3x3(x, W, b))))``, ragged border dropped.

    Parameters
    ----------
    x : (N, C, H, W) array or Variable
    W, b : the convolution's parameters, ``(O, C, 3, 3)`` and ``(O,)``
    pool : (int, int)
        Pooling window, also the stride (Keras/Theano ``ignore_border``).
    normalize : callable
        The normalization (a BN link) applied to the convolution's output.
    affine : (scale, shift), optional
        When the normalization is a fixed per-channel affine map (BN at
        inference), its arrays: the CPU kernel then folds it into ``W``.
    batch_statistics : BatchNormSpec, optional
        When the normalization takes the batch's statistics, what it is
        (:meth:`KerasBatchNormalization.batch_statistics`): the CPU kernels
        then fuse it with the ELU and the pooling.

    The kernel is chosen here.  On the CPU without a gradient: with
    ``affine``, the folded inference kernel (:func:`conv_block_2d_cpu`);
    with ``batch_statistics`` that keep no running averages (Keras BN
    mode 2 at inference), the same kernel taking the statistics as it
    goes (:func:`conv_block_2d_cpu`'s ``statistics``).  Otherwise the
    differentiable CPU convolution
    (:func:`~chainer_tagger.functions.convolution_3x3`), followed by the
    fused normalization, ELU and pooling
    (:func:`~chainer_tagger.functions.batch_norm_activation_pool`) given
    ``batch_statistics``, or by ``normalize`` and Chainer's ELU and
    pooling.  On a GPU and inside ``generic_kernels()``: Chainer's standard
    functions (cuDNN).  All give the same values up to float rounding.
    """
    if cpu_kernels_apply(x, W, b):
        inference = not chainer.config.enable_backprop
        if inference and (affine is not None or (
                batch_statistics is not None and
                batch_statistics.update is None)):
            x = x.array if isinstance(x, chainer.Variable) else x
            return chainer.Variable(conv_block_2d_cpu(
                x, W.array, b.array, pool, affine,
                None if affine is not None else batch_statistics))
        h = convolution_3x3(x, W, b)
        if batch_statistics is not None:
            return batch_norm_activation_pool(h, batch_statistics, 1, 'elu',
                                              pool, consume_input=True)
    else:
        h = F.convolution_2d(x, W, b, pad=1)
    h = F.elu(normalize(h))
    return F.max_pooling_2d(h, pool, stride=pool, cover_all=False)


@host_only
def conv_block_2d_cpu(x, W, b, pool, affine, statistics=None):
    """The conv block at inference on NumPy arrays, without a graph.

    The normalization is folded into the convolution
    (:func:`~chainer_tagger.functions.fold_batch_norm`); each clip's
    convolution is one GEMM of the kernel with its im2col matrix, written
    straight into NCHW order (no transposes), in row strips whose im2col
    matrix (~4 MB) stays in cache; clips run in parallel, one per core.
    Max pooling then comes *before* the bias and the ELU: both are
    monotonic per channel, so ``max(elu(y + b)) == elu(max(y) + b)``
    exactly, and the exponentials run on a fraction of the values.

    With ``statistics`` (a
    :class:`~chainer_tagger.functions.BatchNormSpec` without ``update``:
    Keras BN mode 2) instead of ``affine``, the normalization takes the
    mean and variance of the convolution's output, of each clip
    (``per_clip``) or of the batch, gathered strip by strip (float64,
    every row, the ragged border too) while only pooled values are kept:
    the full-size output (537 MB for 16 clips in the first block) is never
    written.  The kernel's rows are negated where ``gamma < 0``, so that
    the maximum of each window is still the value the normalization maps
    highest; the bias cancels in ``y - mean(y)``.
    """
    n, c, h, w = x.shape
    out_c = W.shape[0]
    if n == 0:
        return np.empty((0, out_c, h // pool[0], w // pool[1]), np.float32)
    if statistics is None:
        W, b = fold_batch_norm(W, b, *affine)
        bias = b.astype(np.float32)[:, None, None]
    else:
        gamma = np.asarray(statistics.gamma.array, np.float64)
        sign = np.where(gamma < 0, -1.0, 1.0)
        W = W * sign.astype(W.dtype)[:, None, None, None]
        bias = np.zeros((out_c, 1, 1), np.float32)
    kernel = W.reshape(out_c, -1).astype(np.float32, copy=False)
    ph, pw = pool
    oh = h // ph
    out = np.empty((n, out_c, oh, w // pw), np.float32)
    # Rows the pooled output needs (a ragged bottom is dropped; the
    # statistics take it too), in strips whose im2col matrix and product
    # stay in cache (the first block, of one input channel, has a product
    # 7x its im2col matrix).
    rows = oh * ph
    step = strip_rows(max(c, -(-out_c // 9)), w, ph)
    computed = rows if statistics is None else h
    # Per clip and strip: values, mean and centred sum of squares.
    moments = np.zeros((n, -(-computed // step), 3, out_c))
    shifted = c >= SHIFTED_GEMM_CHANNELS
    if shifted:
        # (9, O, C): the kernel of each of the nine shifts.
        shifts = np.ascontiguousarray(
            W.reshape(out_c, c, 9).transpose(2, 0, 1).astype(np.float32))

    starts = range(0, computed, step)

    def one_strip(i, flat, r0):
        r1 = min(computed, r0 + step)
        if shifted:
            wide = _convolve_shifts(shifts, flat, w, r0, r1)
        else:
            wide = matmul(kernel, im2col_3x3(flat, c, w, r0, r1))
        # Rows of the product are w + 2 wide; the last two are junk.
        y = wide.reshape(out_c, r1 - r0, w + 2)[:, :, :w]
        if statistics is not None:
            mean, squares = channel_moments(y)
            moments[i, r0 // step, 0] = y[0].size
            moments[i, r0 // step, 1] = mean
            moments[i, r0 // step, 2] = squares
        pooled_rows = min(r1, rows) - r0
        if pooled_rows <= 0:
            return
        pooled = _max_pool(y[:, :pooled_rows], ph, pw)
        if statistics is None:
            pooled += bias
            pooled = _elu_(pooled)
        out[i, :, r0 // ph:r0 // ph + len(pooled[0])] = pooled

    def one_clip(i):
        flat = pad_flat(x[i].astype(np.float32, copy=False))
        for r0 in starts:
            one_strip(i, flat, r0)

    if n >= (os.cpu_count() or 1):
        for_each_clip(one_clip, n)
    else:
        # Fewer clips than cores (tagging one file): the strips of each
        # clip side by side instead, still on single-threaded BLAS
        # (OpenBLAS's own threads were slower on these small GEMMs, and
        # far slower on a busy machine).
        for i in range(n):
            flat = pad_flat(x[i].astype(np.float32, copy=False))
            for_each_clip(lambda j: one_strip(i, flat, starts[j]),
                          len(starts))
    if statistics is not None:
        _normalize_pooled(out, moments, gamma, statistics)
    return out


def _combined_moments(parts):
    """Count, mean and centred sum of squares of the union of parts
    ``(..., 3, C)`` along the first axis (Chan et al.'s pairwise
    update: no cancellation between the parts' sums)."""
    count, mean, squares = parts[0]
    for other in parts[1:]:
        m, mean_m, squares_m = other
        total = count + m
        delta = mean_m - mean
        mean = mean + delta * (m / total)
        squares = squares + squares_m + delta * delta * (count * m / total)
        count = total
    return count, mean, squares


@host_only
def _normalize_pooled(out, moments, gamma, statistics):
    """Normalize (Keras BN on the clip's or the batch's statistics of the
    sign-flipped convolution) and ELU the pooled maxima ``out`` in
    place."""
    per_clip = [_combined_moments(m) for m in moments]
    if not statistics.per_clip:
        per_clip = [_combined_moments(np.array(per_clip))] * len(out)
    beta = np.asarray(statistics.beta.array, np.float64)
    for i, (count, mean, squares) in enumerate(per_clip):
        d, _ = statistics.divisor(squares / count)
        scale = np.abs(gamma) / d
        shift = beta - mean * scale
        clip = out[i]
        clip *= scale.astype(np.float32)[:, None, None]
        clip += shift.astype(np.float32)[:, None, None]
        _elu_(clip)


#: From this many input channels on, a strip's convolution is nine GEMMs
#: on shifted slices of the padded clip (:func:`_convolve_shifts`), not one
#: on an im2col copy: 5-10 % faster for the CRNN's blocks 2-4, whose
#: copies cost as much as OpenBLAS's own packing; with fewer channels the
#: nine GEMMs are too thin.
SHIFTED_GEMM_CHANNELS = 16


@host_only
def _convolve_shifts(shifts, flat, w, r0, r1):
    """Output rows ``[r0, r1)`` of a 3x3 'same' convolution of one padded
    clip (:func:`~chainer_tagger.functions.convolution_3x3.pad_flat`),
    ``(O, (r1 - r0) * (W + 2))`` as :func:`im2col_3x3` with one GEMM gives
    it: the sum of the nine shifts' kernels ``(9, O, C)`` times the
    clip's flat rows from that shift, each a slice of columns that BLAS
    reads in place."""
    wp = w + 2
    length = (r1 - r0) * wp
    out = np.empty((shifts.shape[1], length), np.float32)
    for k in range(9):
        dy, dx = divmod(k, 3)
        matmul_columns(shifts[k], flat, (r0 + dy) * wp + dx, length, out,
                       accumulate=k > 0)
    return out


@host_only
def _elu_(y):
    """ELU (alpha 1) in place: ``max(y, exp(min(y, 0)) - 1)``.

    NumPy's float32 ``exp`` is vectorized and ``expm1`` is not (5x
    slower: the ELU of the first block took as long as its convolution);
    ``exp(v) - 1`` differs from ``expm1(v)`` by at most 1.2e-7 (one unit
    in the last place of 1.0), far below the convolutions' own float32
    rounding, and is exact at and above 0.
    """
    negative = np.minimum(y, 0)
    np.exp(negative, out=negative)
    negative -= 1
    return np.maximum(y, negative, out=y)


@host_only
def _max_pool(y, ph, pw):
    """Non-overlapping max pooling of the last two axes, ragged border
    dropped: first the maxima of each window's rows (whole rows, read in
    order), then of the columns of that third of the data; one pass over
    the input instead of one per pixel of the window."""
    oh, ow = y.shape[-2] // ph, y.shape[-1] // pw
    rows = y[..., 0:oh * ph:ph, :ow * pw].copy()
    for i in range(1, ph):
        np.maximum(rows, y[..., i:oh * ph:ph, :ow * pw], out=rows)
    out = rows[..., 0::pw].copy()
    for j in range(1, pw):
        np.maximum(out, rows[..., j::pw], out=out)
    return out
