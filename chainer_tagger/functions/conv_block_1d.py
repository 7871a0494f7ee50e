"""SoundNet's layer: strided 1-D convolution, batch normalization, ReLU and
non-overlapping max pooling, as one function; and its heads' convolution."""
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.batch_norm_activation_pool import (
    batch_norm_activation_pool)
from chainer_tagger.functions.batch_norm_folding import fold_batch_norm
from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.convolution_1d import (
    BLOCK_ELEMENTS, blocked_products, convolution_1d, single_channel_blocks,
    single_channel_frames)
from chainer_tagger.functions.gemm import matmul
from chainer_tagger.functions.kernel_choice import (
    cpu_kernels_apply, host_only)
from chainer_tagger.functions.max_pooling import max_pool


def conv_bn_relu_pool_1d(x, W, b, stride, pad, pool, normalize, affine=None,
                         batch_statistics=None):
    """``max_pool(relu(normalize(conv1d(x, W, b))))``, ragged end dropped.

    Parameters
    ----------
    x : (N, C, T) array or Variable
    W, b : ``(O, C, K)`` and ``(O,)``
    stride, pad : int
    pool : int or None
        Pooling window and stride (None: no pooling).
    normalize : callable
        The normalization (a BN link) after the convolution.
    affine : (scale, shift), optional
        The normalization as a fixed per-channel affine map (BN at
        inference), folded into the kernel by the CPU kernel.
    batch_statistics : BatchNormSpec, optional
        When the normalization takes the batch's statistics, what it is:
        the CPU kernels then fuse it with the ReLU and the pooling.

    The kernel is chosen here.  On the CPU: with ``affine`` and no
    gradient, the folded inference kernel (:func:`conv_block_1d_cpu`);
    otherwise the differentiable CPU convolution
    (:func:`~chainer_tagger.functions.convolution_1d`), followed by the
    fused normalization, ReLU and pooling
    (:func:`~chainer_tagger.functions.batch_norm_activation_pool`) given
    ``batch_statistics``, or by ``normalize`` and Chainer's ReLU and
    pooling.  On a GPU and inside ``generic_kernels()``: Chainer's
    standard functions, the convolution and the pooling in their 2-D form
    (:func:`convolution_1d_as_2d`), which cuDNN runs.
    """
    if cpu_kernels_apply(x, W, b):
        if affine is not None and not chainer.config.enable_backprop:
            x = x.array if isinstance(x, chainer.Variable) else x
            return chainer.Variable(conv_block_1d_cpu(
                x, W.array, b.array, stride, pad, pool, affine))
        h = convolution_1d(x, W, b, stride, pad)
        if batch_statistics is not None:
            return batch_norm_activation_pool(
                h, batch_statistics, 1, 'relu', (pool,) if pool else None,
                consume_input=True)
    else:
        h = convolution_1d_as_2d(x, W, b, stride, pad)
    h = F.relu(normalize(h))
    if pool:
        h = max_pooling_1d_as_2d(h, pool)
    return h


def strided_conv_1d(x, W, b, stride, pad):
    """``conv1d(x, W, b, stride, pad)`` (SoundNet's heads): the CPU kernel
    (:func:`~chainer_tagger.functions.convolution_1d`) on NumPy arrays,
    Chainer's 2-D convolution (:func:`convolution_1d_as_2d`) on a GPU and
    inside ``generic_kernels()``.
    """
    if cpu_kernels_apply(x, W, b):
        return convolution_1d(x, W, b, stride, pad)
    return convolution_1d_as_2d(x, W, b, stride, pad)


def convolution_1d_as_2d(x, W, b, stride, pad):
    """A 1-D convolution of ``(N, C, T)`` by ``(O, C, K)`` run as Chainer's
    2-D convolution of ``(N, C, 1, T)`` by ``(O, C, 1, K)``.

    Why: Chainer 7 hands convolutions to cuDNN only for ``ndim > 1``; its
    N-d path builds an im2col matrix instead (SoundNet's first layer at
    batch 8: about 0.7 GB) and runs one GEMM over it.  The 2-D form is
    the same arithmetic and runs on cuDNN on a GPU.
    """
    n, c, t = x.shape
    out_c, _, k = W.shape
    h = F.convolution_2d(F.reshape(x, (n, c, 1, t)),
                         F.reshape(W, (out_c, c, 1, k)), b,
                         stride=(1, stride), pad=(0, pad))
    return F.reshape(h, (n, out_c, h.shape[3]))


def max_pooling_1d_as_2d(h, pool):
    """Non-overlapping 1-D max pooling of ``(N, C, T)`` (ragged end
    dropped) as Chainer's 2-D pooling of ``(N, C, 1, T)``: cuDNN on a GPU,
    like :func:`convolution_1d_as_2d`."""
    n, c, t = h.shape
    h = F.max_pooling_2d(F.reshape(h, (n, c, 1, t)), (1, pool), (1, pool),
                         cover_all=False)
    return F.reshape(h, (n, c, h.shape[3]))


@host_only
def conv_block_1d_cpu(x, W, b, stride, pad, pool, affine):
    """The SoundNet layer on NumPy arrays, without a graph.

    BN is folded into the kernel; each clip's convolution is a GEMM of the
    kernel with strided windows of the input, taken in cache-sized chunks
    (a single-channel input, SoundNet's first layer, is multiplied as
    frames instead: :func:`~chainer_tagger.functions.convolution_1d.
    single_channel_blocks`); max pooling comes before the
    bias and the ReLU (both monotonic, so the result is identical), and
    clips run one per core.  Equal to the graph path up to float rounding.
    """
    x = np.asarray(x, np.float32)
    cout, cin, k = W.shape
    W, b = fold_batch_norm(W, b, *affine)
    kernel = W.reshape(cout, -1)
    bias = b[:, None]
    n_out = (x.shape[2] + 2 * pad - k) // stride + 1
    pool = pool or 1
    keep = n_out // pool * pool
    out = np.empty((len(x), cout, keep // pool), np.float32)
    if cin == 1 and k % stride == 0 and (k // stride) % pool == 0:
        blocks = single_channel_blocks(W, stride, pool)
    else:
        blocks = None
    chunk = pool * max(1, (1 << 20) // (cin * k * pool))
    # Strided windows copied into columns move one float in every
    # ``stride``; split into ``stride`` phases (each contiguous), a strided
    # convolution is a stride-1 one over the phases, whose columns are
    # copies of contiguous runs (SoundNet's conv2 at batch 8: 0.080-0.084
    # against 0.091-0.106 s on 2 cores).
    phase_kernel = None
    if stride > 1 and k % stride == 0:
        phase_kernel = np.ascontiguousarray(W.reshape(
            cout, cin, k // stride, stride).transpose(0, 3, 1, 2).reshape(
                cout, -1))

    def one_clip(i):
        padded = np.pad(x[i], ((0, 0), (pad, pad)))
        if blocks is not None:
            pooled = _blocked_conv_pool(padded[0], blocks, cout, pool,
                                        keep // pool)
            pooled += bias
            np.maximum(pooled, 0, out=out[i])
            return
        phases = [np.ascontiguousarray(padded[:, p::stride])
                  for p in range(stride)] if phase_kernel is not None else None
        rows = padded.strides[0]
        for t0 in range(0, keep, chunk):
            t1 = min(keep, t0 + chunk)
            if phases is not None:
                y = matmul(phase_kernel, _phase_columns(phases, k // stride,
                                                        t0, t1))
            else:
                windows = np.lib.stride_tricks.as_strided(
                    padded[:, t0 * stride:],
                    shape=(padded.shape[0], k, t1 - t0),
                    strides=(rows, 4, 4 * stride), writeable=False)
                y = matmul(kernel, np.ascontiguousarray(windows).reshape(
                    -1, t1 - t0))
            if pool > 1:
                y = max_pool(y[:, None], (1, pool))[0][:, 0]
            y += bias
            np.maximum(y, 0, out=y)
            out[i, :, t0 // pool:t1 // pool] = y

    for_each_clip(one_clip, len(x))
    return out


@host_only
def _phase_columns(phases, taps, t0, t1):
    """The im2col columns of steps ``t0:t1`` of a strided convolution from
    the input's ``stride`` phases: rows ordered (phase, channel, tap), each
    a contiguous run ``phase[channel, t0 + tap:t1 + tap]``."""
    cin = phases[0].shape[0]
    cols = np.empty((len(phases), cin, taps, t1 - t0), np.float32)
    for p, phase in enumerate(phases):
        cols[p] = np.lib.stride_tricks.as_strided(
            phase[:, t0:], shape=(cin, taps, t1 - t0),
            strides=(phase.strides[0], 4, 4), writeable=False)
    return cols.reshape(-1, t1 - t0)


@host_only
def _blocked_conv_pool(padded, blocks, out_c, pool, n_pooled):
    """Convolution and max pooling of one single-channel padded clip by
    the block matrices of
    :func:`~chainer_tagger.functions.convolution_1d.single_channel_blocks`
    (ordered for ``pool``): ``(O, n_pooled)``."""
    k, width = blocks[0].shape
    per_block = width // (out_c * pool)  # pooled steps per block
    n_blocks = -(-n_pooled // per_block)
    frames = single_channel_frames(padded, k, n_blocks)
    out = np.empty((out_c, n_blocks * per_block), np.float32)
    step = max(1, BLOCK_ELEMENTS // width)
    for u0 in range(0, n_blocks, step):
        u1 = min(n_blocks, u0 + step)
        y = blocked_products(frames, blocks, u0, u1)
        pooled = y.reshape(u1 - u0, pool, out_c, per_block).max(axis=1)
        out[:, u0 * per_block:u1 * per_block] = pooled.transpose(
            1, 0, 2).reshape(out_c, -1)
    return out[:, :n_pooled]
