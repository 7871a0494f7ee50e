"""The convolution block shared by Choi's taggers."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.links.clip_parallel import for_each_clip
from chainer_tagger.links.keras_batch_normalization import (
    KerasBatchNormalization)


class KerasConvBlock(chainer.Chain):
    """3x3 'same' convolution, Keras BN over channels, ELU, max pooling.

    Keras' ``Dropout`` after the pooling is applied with ``dropout`` (only
    while training, as in Keras).  Pooling drops a ragged border, like
    Keras/Theano's ``ignore_border=True``.

    Parameters
    ----------
    in_channels, out_channels : int
    pool : tuple of int
        Pooling window, also the stride.
    dropout : float
    bn_mode, running_std_is, per_clip
        Passed to :class:`KerasBatchNormalization`.
    """

    def __init__(self, in_channels, out_channels, pool, dropout=0.0,
                 bn_mode=0, running_std_is='variance', per_clip=False):
        super().__init__()
        self.pool = tuple(pool)
        self.dropout = dropout
        with self.init_scope():
            self.conv = L.Convolution2D(in_channels, out_channels, 3, pad=1)
            self.bn = KerasBatchNormalization(
                out_channels, axis=1, mode=bn_mode,
                running_std_is=running_std_is, per_clip=per_clip)

    def forward(self, x):
        array = x.array if isinstance(x, chainer.Variable) else x
        if (isinstance(array, np.ndarray) and not chainer.config.train
                and not chainer.config.enable_backprop):
            return chainer.Variable(self._infer_cpu(array))
        h = F.elu(self.bn(self.conv(x)))
        h = F.max_pooling_2d(h, self.pool, stride=self.pool, cover_all=False)
        if self.dropout:
            h = F.dropout(h, self.dropout)
        return h

    def _infer_cpu(self, x):
        """The same block on NumPy arrays, for inference without a graph.

        Mode-0 BN is folded into the convolution (``W * a``, ``b * a + c``);
        each clip's convolution is one GEMM of the folded kernel with its
        im2col matrix, written straight into NCHW order (no transposes);
        clips run in parallel, one per core.
        Max pooling then comes *before* the bias and the ELU: both are
        monotonic per channel, so ``max(elu(y + b)) == elu(max(y) + b)``
        exactly, and the exponentials run on a fraction of the values.
        Mode-2 BN needs the whole batch's output first (and its scale may
        be negative), so it keeps the original order.  Equal to
        :meth:`forward` up to float rounding.
        """
        n, c, h, w = x.shape
        kernel = self.conv.W.array
        bias = self.conv.b.array
        out_c = kernel.shape[0]
        folded = self.bn.mode == 0
        if folded:
            scale, shift = self.bn.inference_affine()
            kernel = kernel * scale[:, None, None, None]
            bias = bias * scale + shift
        kernel = kernel.reshape(out_c, -1).astype(np.float32, copy=False)
        bias = bias.astype(np.float32)[:, None, None]
        ph, pw = self.pool
        oh = h // ph
        out = np.empty((n, out_c, oh, w // pw), np.float32)
        conv = np.empty((n, out_c, h, w), np.float32) if not folded else None
        # Rows the pooled output needs (a ragged bottom is dropped), taken
        # in strips whose im2col matrix (~4 MB) stays in cache.
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
            y = self.bn(conv).array
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
