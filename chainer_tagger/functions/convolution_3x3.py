"""3x3 'same' convolution on the CPU as a differentiable Chainer function.

Forward and backward are GEMMs on im2col strips small enough to stay in
cache, one clip per core: Chainer's generic im2col builds the whole
batch's column matrix (~1 GB for the CRNN's second block at batch 8) and
goes through ``tensordot``, which copies it again.
"""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import numpy as np

import chainer

from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.gemm import matmul
from chainer_tagger.functions.kernel_choice import forbid_double_backprop

#: Elements of one im2col strip (4 MB of float32: it stays in cache).
STRIP_ELEMENTS = 1 << 20


def strip_rows(channels, width, multiple=1):
    """Output rows per strip: a multiple of ``multiple`` (the pooling
    height, so that a strip pools on its own) whose im2col matrix holds
    about :data:`STRIP_ELEMENTS`."""
    per_row = channels * 9 * (width + 2) * multiple
    return multiple * max(1, STRIP_ELEMENTS // per_row)


def pad_flat(x):
    """One clip ``(C, H, W)`` zero-padded by one pixel and flattened into
    rows of ``W + 2``, with two spare zeros at the end."""
    c, h, w = x.shape
    wp = w + 2
    flat = np.zeros((c, (h + 2) * wp + 2), x.dtype)
    flat[:, :(h + 2) * wp].reshape(c, h + 2, wp)[:, 1:h + 1, 1:w + 1] = x
    return flat


def im2col_3x3(flat, c, w, r0, r1):
    """im2col for output rows ``[r0, r1)`` of a 3x3 'same' convolution.

    Returns ``(C * 9, (r1 - r0) * (W + 2))``.  In the flat padded input
    (:func:`pad_flat`) each of the nine shifts is one contiguous slice;
    output column ``(h - r0) * (W + 2) + w`` is position ``(h, w)`` for
    ``w < W`` (the two extra columns per row are junk).
    """
    wp = w + 2
    length = (r1 - r0) * wp
    col = np.empty((c, 9, length), flat.dtype)
    for dy in range(3):
        for dx in range(3):
            start = (r0 + dy) * wp + dx
            col[:, 3 * dy + dx] = flat[:, start:start + length]
    return col.reshape(c * 9, length)


def convolve_3x3(x, W, b=None):
    """``conv2d(x, W, b, pad=1)`` for ``(N, C, H, W)`` NumPy arrays and a
    ``(O, C, 3, 3)`` kernel: one GEMM per strip, clips in parallel."""
    n, c, h, w = x.shape
    out_c = W.shape[0]
    kernel = np.ascontiguousarray(W.reshape(out_c, -1))
    y = np.empty((n, out_c, h, w), x.dtype)
    bias = None if b is None else b.reshape(out_c, 1, 1)
    step = strip_rows(c, w)

    def one_clip(i):
        flat = pad_flat(x[i])
        for r0 in range(0, h, step):
            r1 = min(h, r0 + step)
            wide = matmul(kernel, im2col_3x3(flat, c, w, r0, r1))
            wide = wide.reshape(out_c, r1 - r0, w + 2)[:, :, :w]
            if bias is None:
                y[i, :, r0:r1] = wide
            else:
                np.add(wide, bias, out=y[i, :, r0:r1])

    for_each_clip(one_clip, n)
    return y


def kernel_gradient_3x3(x, gy):
    """Gradient of :func:`convolve_3x3` with respect to its kernel,
    ``(O, C, 3, 3)``: per strip, ``gy`` (junk columns zero) times the
    transposed im2col matrix of ``x``."""
    n, c, h, w = x.shape
    out_c = gy.shape[1]
    partial = np.zeros((n, out_c, c * 9), x.dtype)
    step = strip_rows(c, w)

    def one_clip(i):
        flat = pad_flat(x[i])
        for r0 in range(0, h, step):
            r1 = min(h, r0 + step)
            wide = np.zeros((out_c, r1 - r0, w + 2), x.dtype)
            wide[:, :, :w] = gy[i, :, r0:r1]
            matmul(wide.reshape(out_c, -1),
                   im2col_3x3(flat, c, w, r0, r1).T, out=partial[i],
                   accumulate=True)

    for_each_clip(one_clip, n)
    return partial.sum(axis=0).reshape(out_c, c, 3, 3)


def input_gradient_3x3(gy, W):
    """Gradient of :func:`convolve_3x3` with respect to its input.

    Per strip of output rows, the kernel's transpose times ``gy`` (in the
    padded-row layout of :func:`im2col_3x3`, junk columns zero) gives each
    input channel's nine shifted contributions, added back onto the flat
    padded input (col2im as nine contiguous slice additions).  Reading
    ``gy`` once, this costs far less than the convolution of ``gy`` with
    the flipped kernel when the input has few channels (the CRNN's first
    block: one).
    """
    n, out_c, h, w = gy.shape
    c = W.shape[1]
    wp = w + 2
    transposed = np.ascontiguousarray(
        W.reshape(out_c, c * 9).T)  # (C * 9, O)
    gx = np.empty((n, c, h, w), gy.dtype)
    step = strip_rows(max(c, out_c), w)

    def one_clip(i):
        flat = np.zeros((c, (h + 2) * wp + 2), gy.dtype)
        for r0 in range(0, h, step):
            r1 = min(h, r0 + step)
            wide = np.zeros((out_c, r1 - r0, wp), gy.dtype)
            wide[:, :, :w] = gy[i, :, r0:r1]
            length = (r1 - r0) * wp
            parts = matmul(transposed, wide.reshape(out_c, length)).reshape(
                c, 9, length)
            for dy in range(3):
                for dx in range(3):
                    start = (r0 + dy) * wp + dx
                    flat[:, start:start + length] += parts[:, 3 * dy + dx]
        gx[i] = flat[:, :(h + 2) * wp].reshape(c, h + 2, wp)[
            :, 1:h + 1, 1:w + 1]

    for_each_clip(one_clip, n)
    return gx


class Convolution3x3(chainer.FunctionNode):
    """``conv2d(x, W, b, pad=1)`` with a 3x3 kernel, on NumPy arrays.

    The input gradient is a GEMM of the transposed kernel with ``gy``
    followed by col2im (:func:`input_gradient_3x3`), the kernel gradient a
    GEMM of ``gy`` with the im2col strips of ``x``: the forward's FLOPs
    each, with no column matrix larger than a strip.
    """

    def forward_cpu(self, inputs):
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        b = inputs[2] if len(inputs) == 3 else None
        return convolve_3x3(x, W, b),

    def backward(self, indexes, grad_outputs):
        forbid_double_backprop('Convolution3x3')
        x, W = (v.array for v in self.get_retained_inputs())
        gy = grad_outputs[0].array
        grads = [None] * len(self.inputs)
        if 0 in indexes:
            grads[0] = input_gradient_3x3(gy, W)
        if 1 in indexes:
            grads[1] = kernel_gradient_3x3(x, gy).astype(W.dtype, copy=False)
        if 2 in indexes:
            grads[2] = gy.sum(axis=(0, 2, 3)).astype(W.dtype, copy=False)
        return tuple(None if g is None else chainer.Variable(g)
                     for g in grads)


def convolution_3x3(x, W, b=None):
    """Differentiable 3x3 'same' convolution of NumPy arrays (see
    :class:`Convolution3x3`)."""
    inputs = (x, W) if b is None else (x, W, b)
    return Convolution3x3().apply(inputs)[0]
