"""Strided 1-D convolution (SoundNet's layers) on the CPU as a
differentiable Chainer function.

Chainer's generic N-d im2col builds the column matrix of the whole batch
(~700 MB for SoundNet's conv1 at batch 8) before one ``tensordot``; here
each clip's windows are taken in cache-sized chunks (strided views, one
copy each) and multiplied by the kernel, clips in parallel.  A
single-channel input (the waveform) is multiplied as contiguous frames
with block matrices instead, with no window copies
(:func:`single_channel_blocks`); the deep layers, with few steps and wide
kernels, are one GEMM for the whole batch, split over the cores.
"""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import numpy as np

import chainer

from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.gemm import matmul, parallel_matmul
from chainer_tagger.functions.kernel_choice import forbid_double_backprop

#: Elements of one chunk of windows (4 MB of float32: it stays in cache).
CHUNK_ELEMENTS = 1 << 20
#: Window matrices of the whole batch up to this size are one GEMM, split
#: over the cores (few steps: per-clip GEMMs would each read the whole
#: kernel).
BATCHED_ELEMENTS = 1 << 23
#: Elements of one chunk of block products (single-channel inputs).
BLOCK_ELEMENTS = 1 << 18


def single_channel_blocks(W, stride, pool=1):
    """Block matrices of a convolution of a single-channel input.

    With kernel ``K`` and stride ``s`` (``K`` a multiple of ``s``), the
    ``R = K / s`` outputs ``t = R u + j`` read samples ``K u + s j`` to
    ``K u + s j + K``: within two consecutive frames of ``K`` samples, at
    an offset ``s j``.  So each block of ``R`` outputs of all ``O``
    channels is the product of two contiguous frames with two fixed
    ``(K, R O)`` matrices (half zeros): GEMMs on the waveform itself, with
    no window copies (SoundNet's first layer: 4x less memory traffic).
    Columns are ordered (position in a pooling window of ``pool``,
    channel, pooled step): with ``pool=1``, (channel, output in block).
    Returns the two matrices.
    """
    out_c, _, k = W.shape
    r = k // stride
    both = np.zeros((r, out_c, 2 * k), W.dtype)
    for j in range(r):
        both[j, :, stride * j:stride * j + k] = W[:, 0]
    both = both.reshape(r // pool, pool, out_c, 2 * k).transpose(
        1, 2, 0, 3).reshape(r * out_c, 2 * k)
    return (np.ascontiguousarray(both[:, :k].T),
            np.ascontiguousarray(both[:, k:].T))


def single_channel_frames(padded, k, n_blocks):
    """The ``(n_blocks + 1, k)`` frames of a padded single-channel clip
    (zeros after its end) that ``n_blocks`` blocks read."""
    frames = np.zeros((n_blocks + 1) * k, padded.dtype)
    used = min(len(padded), len(frames))
    frames[:used] = padded[:used]
    return frames.reshape(n_blocks + 1, k)


def blocked_products(frames, blocks, u0, u1):
    """Outputs of blocks ``[u0, u1)``, ``(u1 - u0, R O)`` in the column
    order of :func:`single_channel_blocks`."""
    first, second = blocks
    y = matmul(frames[u0:u1], first)
    return matmul(frames[u0 + 1:u1 + 1], second, out=y, accumulate=True)


def _single_channel(W, stride):
    return W.shape[1] == 1 and W.shape[2] % stride == 0


def _convolve_single_channel(x, W, b, stride, pad, steps):
    n, _, t = x.shape
    out_c, _, k = W.shape
    r = k // stride
    blocks = single_channel_blocks(W, stride)
    n_blocks = -(-steps // r)
    y = np.empty((n, out_c, steps), x.dtype)
    bias = None if b is None else b.reshape(out_c, 1)
    step = max(1, BLOCK_ELEMENTS // (r * out_c))

    def one_clip(i):
        frames = single_channel_frames(np.pad(x[i, 0], pad), k, n_blocks)
        for u0 in range(0, n_blocks, step):
            u1 = min(n_blocks, u0 + step)
            t0, t1 = u0 * r, min(steps, u1 * r)
            part = blocked_products(frames, blocks, u0, u1).reshape(
                u1 - u0, out_c, r).transpose(1, 0, 2).reshape(out_c, -1)
            if bias is None:
                y[i, :, t0:t1] = part[:, :t1 - t0]
            else:
                np.add(part[:, :t1 - t0], bias, out=y[i, :, t0:t1])

    for_each_clip(one_clip, n)
    return y


def _single_channel_gradients(x, W, gy, stride, pad, need_x, need_W):
    n, _, t = x.shape
    out_c, _, k = W.shape
    r = k // stride
    steps = gy.shape[2]
    blocks = single_channel_blocks(W, stride)
    n_blocks = -(-steps // r)
    step = max(1, BLOCK_ELEMENTS // (r * out_c))
    partial = np.zeros((n, 2, k, r * out_c), x.dtype) if need_W else None
    gx = np.zeros_like(x) if need_x else None

    def one_clip(i):
        frames = single_channel_frames(np.pad(x[i, 0], pad), k, n_blocks)
        g_frames = np.zeros(frames.shape, x.dtype) if need_x else None
        for u0 in range(0, n_blocks, step):
            u1 = min(n_blocks, u0 + step)
            t0, t1 = u0 * r, min(steps, u1 * r)
            g = np.zeros((out_c, (u1 - u0) * r), x.dtype)
            g[:, :t1 - t0] = gy[i, :, t0:t1]
            g = np.ascontiguousarray(g.reshape(out_c, u1 - u0, r).transpose(
                1, 0, 2)).reshape(u1 - u0, -1)
            if need_W:
                matmul(frames[u0:u1].T, g, out=partial[i, 0],
                       accumulate=True)
                matmul(frames[u0 + 1:u1 + 1].T, g, out=partial[i, 1],
                       accumulate=True)
            if need_x:
                g_frames[u0:u1] += matmul(g, blocks[0].T)
                g_frames[u0 + 1:u1 + 1] += matmul(g, blocks[1].T)
        if need_x:
            flat = g_frames.reshape(-1)
            end = min(len(flat), t + pad)
            gx[i, 0, :end - pad] = flat[pad:end]

    for_each_clip(one_clip, n)
    gW = None
    if need_W:
        # Fold the block matrices' gradient back onto the kernel: output j
        # of a block used kernel tap q at frame position s j + q.
        both = partial.sum(axis=0).reshape(2 * k, out_c, r)
        gW = np.zeros(W.shape, x.dtype)
        for j in range(r):
            gW[:, 0] += both[stride * j:stride * j + k, :, j].T
    return gx, gW


def output_length(length, kernel, stride, pad):
    """Output steps of a convolution (ragged end dropped)."""
    return (length + 2 * pad - kernel) // stride + 1


def window_matrix(padded, kernel, stride, t0, t1):
    """The windows of outputs ``[t0, t1)`` of one padded clip ``(C, Tp)``
    as a contiguous ``(C * kernel, t1 - t0)`` matrix."""
    c = padded.shape[0]
    item = padded.strides[1]
    windows = np.lib.stride_tricks.as_strided(
        padded[:, t0 * stride:], shape=(c, kernel, t1 - t0),
        strides=(padded.strides[0], item, item * stride), writeable=False)
    return np.ascontiguousarray(windows).reshape(c * kernel, t1 - t0)


def batch_window_matrix(padded, kernel, stride, steps):
    """The windows of every clip of a padded batch ``(N, C, Tp)``, as a
    contiguous ``(C * kernel, N * steps)`` matrix."""
    n, c, _ = padded.shape
    s_n, s_c, item = padded.strides
    windows = np.lib.stride_tricks.as_strided(
        padded, shape=(c, kernel, n, steps),
        strides=(s_c, item, s_n, item * stride), writeable=False)
    return np.ascontiguousarray(windows).reshape(c * kernel, n * steps)


def _batched(x, kernel, steps):
    return x.shape[1] * kernel * x.shape[0] * steps <= BATCHED_ELEMENTS


def _chunk(channels, kernel):
    return max(1, CHUNK_ELEMENTS // (channels * kernel))


def convolve_1d(x, W, b, stride, pad):
    """``conv1d(x, W, b, stride, pad)`` on NumPy arrays ``(N, C, T)`` and
    ``(O, C, K)``."""
    n, c, t = x.shape
    out_c, _, k = W.shape
    steps = output_length(t, k, stride, pad)
    if _single_channel(W, stride) and not _batched(x, k, steps):
        return _convolve_single_channel(x, W, b, stride, pad, steps)
    kernel = np.ascontiguousarray(W.reshape(out_c, -1))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    bias = None if b is None else b.reshape(out_c, 1)
    if _batched(x, k, steps):
        y = parallel_matmul(kernel,
                            batch_window_matrix(padded, k, stride, steps))
        if bias is not None:
            y += bias
        return np.ascontiguousarray(
            y.reshape(out_c, n, steps).transpose(1, 0, 2))
    y = np.empty((n, out_c, steps), x.dtype)
    chunk = _chunk(c, k)

    def one_clip(i):
        for t0 in range(0, steps, chunk):
            t1 = min(steps, t0 + chunk)
            part = matmul(kernel, window_matrix(padded[i], k, stride, t0,
                                                t1))
            if bias is not None:
                part += bias
            y[i, :, t0:t1] = part

    for_each_clip(one_clip, n)
    return y


def _scatter_windows(padded_grad, columns, kernel, stride, start):
    """Add window gradients ``columns`` (``(C, kernel, steps)``, or
    ``(C, kernel, N, steps)`` for a batch) back onto the padded input
    positions they were read from, beginning at ``start``."""
    steps = columns.shape[-1]
    span = stride * (steps - 1) + 1
    for j in range(kernel):
        target = padded_grad[..., start + j:start + j + span:stride]
        if columns.ndim == 4:
            target += columns[:, j].transpose(1, 0, 2)
        else:
            target += columns[:, j]


def convolution_1d_gradients(x, W, gy, stride, pad, need_x, need_W):
    """``(gx, gW)`` of :func:`convolve_1d` (None where not needed)."""
    n, c, t = x.shape
    out_c, _, k = W.shape
    steps = gy.shape[2]
    if _single_channel(W, stride) and not _batched(x, k, steps):
        return _single_channel_gradients(x, W, gy, stride, pad, need_x,
                                         need_W)
    kernel = np.ascontiguousarray(W.reshape(out_c, -1))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad))) if need_W else None
    tp = t + 2 * pad
    if _batched(x, k, steps):
        g = np.ascontiguousarray(gy.transpose(1, 0, 2)).reshape(out_c, -1)
        gW = gx = None
        if need_W:
            gW = parallel_matmul(
                g, batch_window_matrix(padded, k, stride, steps).T)
        if need_x:
            gpad = np.zeros((n, c, tp), x.dtype)
            _scatter_windows(
                gpad, parallel_matmul(kernel.T, g).reshape(c, k, n, steps),
                k, stride, 0)
            gx = gpad[:, :, pad:pad + t]
        return gx, None if gW is None else gW.reshape(W.shape)
    chunk = _chunk(c, k)
    partial = np.zeros((n, out_c, c * k), x.dtype) if need_W else None
    gx = np.empty_like(x) if need_x else None

    def one_clip(i):
        gpad = np.zeros((c, tp), x.dtype) if need_x else None
        for t0 in range(0, steps, chunk):
            t1 = min(steps, t0 + chunk)
            g = gy[i, :, t0:t1]
            if need_W:
                matmul(g, window_matrix(padded[i], k, stride, t0, t1).T,
                       out=partial[i], accumulate=True)
            if need_x:
                _scatter_windows(gpad, matmul(kernel.T, g).reshape(c, k, -1),
                                 k, stride, t0 * stride)
        if need_x:
            gx[i] = gpad[:, pad:pad + t]

    for_each_clip(one_clip, n)
    return gx, None if partial is None else partial.sum(0).reshape(W.shape)


class Convolution1D(chainer.FunctionNode):
    """``conv1d(x, W, b, stride, pad)`` on NumPy arrays: forward and
    backward are GEMMs on strided windows (see the module docstring)."""

    def __init__(self, stride, pad):
        self.stride = stride
        self.pad = pad

    def forward_cpu(self, inputs):
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        b = inputs[2] if len(inputs) == 3 else None
        return convolve_1d(x, W, b, self.stride, self.pad),

    def backward(self, indexes, grad_outputs):
        forbid_double_backprop('Convolution1D')
        x, W = (v.array for v in self.get_retained_inputs())
        gy = grad_outputs[0].array
        gx, gW = convolution_1d_gradients(x, W, gy, self.stride, self.pad,
                                          0 in indexes, 1 in indexes)
        grads = [gx, gW]
        if len(self.inputs) == 3:
            grads.append(gy.sum(axis=(0, 2)) if 2 in indexes else None)
        return tuple(None if g is None else chainer.Variable(g)
                     for g in grads)


def convolution_1d(x, W, b, stride, pad):
    """Differentiable strided 1-D convolution of NumPy arrays (see
    :class:`Convolution1D`)."""
    inputs = (x, W) if b is None else (x, W, b)
    return Convolution1D(stride, pad).apply(inputs)[0]
