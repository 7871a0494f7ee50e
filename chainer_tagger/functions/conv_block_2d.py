"""The conv block of Choi's taggers: 3x3 'same' convolution, normalization,
ELU and non-overlapping max pooling, as one function."""
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.batch_norm_folding import fold_batch_norm
from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.kernel_choice import cpu_kernels_apply


def conv_bn_elu_pool_2d(x, W, b, pool, normalize, affine=None):
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

    The kernel is chosen here: on the CPU, when no gradient is needed, the
    CPU kernel (:func:`conv_block_2d_cpu`); otherwise Chainer's standard
    functions (cuDNN on a GPU).  Both give the same values up to float
    rounding.
    """
    if cpu_kernels_apply(x, W, b) and not chainer.config.enable_backprop:
        x = x.array if isinstance(x, chainer.Variable) else x
        return chainer.Variable(conv_block_2d_cpu(
            x, W.array, b.array, pool, normalize, affine))
    h = F.convolution_2d(x, W, b, pad=1)
    h = F.elu(normalize(h))
    return F.max_pooling_2d(h, pool, stride=pool, cover_all=False)


def conv_block_2d_cpu(x, W, b, pool, normalize, affine=None):
    """The conv block on NumPy arrays, without a graph.

    With ``affine`` the normalization is folded into the convolution
    (:func:`~chainer_tagger.functions.fold_batch_norm`); each clip's
    convolution is one GEMM of the kernel with its im2col matrix, written
    straight into NCHW order (no transposes), in row strips whose im2col
    matrix (~4 MB) stays in cache; clips run in parallel, one per core.
    Max pooling then comes *before* the bias and the ELU: both are
    monotonic per channel, so ``max(elu(y + b)) == elu(max(y) + b)``
    exactly, and the exponentials run on a fraction of the values.
    Without ``affine`` (batch statistics: the whole batch's output is
    needed first, and the scale may be negative) the original order is
    kept: convolution, ``normalize``, ELU, pooling.
    """
    n, c, h, w = x.shape
    out_c = W.shape[0]
    folded = affine is not None
    if folded:
        W, b = fold_batch_norm(W, b, *affine)
    kernel = W.reshape(out_c, -1).astype(np.float32, copy=False)
    bias = b.astype(np.float32)[:, None, None]
    ph, pw = pool
    oh = h // ph
    out = np.empty((n, out_c, oh, w // pw), np.float32)
    conv = np.empty((n, out_c, h, w), np.float32) if not folded else None
    # Rows the pooled output needs (a ragged bottom is dropped), taken in
    # strips whose im2col matrix stays in cache.
    rows = oh * ph if folded else h
    step = ph * max(1, (1 << 20) // (c * 9 * (w + 2) * ph))

    def one_clip(i):
        flat = _pad_flat(x[i])
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            wide = kernel @ _im2col_3x3(flat, c, w, r0, r1)
            # Rows of the product are w + 2 wide; the last two are junk.
            y = wide.reshape(out_c, r1 - r0, w + 2)[:, :, :w]
            if not folded:
                conv[i, :, r0:r1] = y
                continue
            pooled = _max_pool(y, ph, pw)
            pooled += bias
            out[i, :, r0 // ph:r1 // ph] = _elu_(pooled)

    for_each_clip(one_clip, n)
    if not folded:
        conv += bias
        y = normalize(conv)
        y = y.array if isinstance(y, chainer.Variable) else y
        out[...] = _max_pool(_elu_(y), ph, pw)
    return out


def _pad_flat(x):
    """One clip ``(C, H, W)`` zero-padded by one pixel and flattened into
    rows of ``W + 2``, with two spare zeros at the end."""
    c, h, w = x.shape
    wp = w + 2
    flat = np.zeros((c, (h + 2) * wp + 2), np.float32)
    flat[:, :(h + 2) * wp].reshape(c, h + 2, wp)[:, 1:h + 1, 1:w + 1] = x
    return flat


def _im2col_3x3(flat, c, w, r0, r1):
    """im2col for output rows ``[r0, r1)`` of a 3x3 'same' convolution.

    Returns ``(C * 9, (r1 - r0) * (W + 2))``.  In the flat padded input
    (:func:`_pad_flat`) each of the nine shifts is one contiguous slice;
    output column ``(h - r0) * (W + 2) + w`` is position ``(h, w)`` for
    ``w < W`` (the two extra columns per row are junk).
    """
    wp = w + 2
    length = (r1 - r0) * wp
    col = np.empty((c, 9, length), np.float32)
    for dy in range(3):
        for dx in range(3):
            start = (r0 + dy) * wp + dx
            col[:, 3 * dy + dx] = flat[:, start:start + length]
    return col.reshape(c * 9, length)


def _elu_(y):
    """ELU (alpha 1) in place: ``max(y, expm1(min(y, 0)))``."""
    negative = np.minimum(y, 0)
    np.expm1(negative, out=negative)
    return np.maximum(y, negative, out=y)


def _max_pool(y, ph, pw):
    """Non-overlapping max pooling of the last two axes, ragged border
    dropped, as elementwise maxima of strided slices."""
    oh, ow = y.shape[-2] // ph, y.shape[-1] // pw
    out = y[..., 0:oh * ph:ph, 0:ow * pw:pw].copy()
    for i in range(ph):
        for j in range(pw):
            if i or j:
                np.maximum(out, y[..., i:oh * ph:ph, j:ow * pw:pw], out=out)
    return out
