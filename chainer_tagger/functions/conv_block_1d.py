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
from chainer_tagger.functions.kernel_choice import cpu_kernels_apply
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
    standard functions.
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
        h = F.convolution_nd(x, W, b, stride=stride, pad=pad)
    h = F.relu(normalize(h))
    if pool:
        h = F.max_pooling_nd(h, pool, pool, cover_all=False)
    return h


def strided_conv_1d(x, W, b, stride, pad):
    """``conv1d(x, W, b, stride, pad)`` (SoundNet's heads): the CPU kernel
    (:func:`~chainer_tagger.functions.convolution_1d`) on NumPy arrays,
    Chainer's ``convolution_nd`` on a GPU and inside ``generic_kernels()``.
    """
    if cpu_kernels_apply(x, W, b):
        return convolution_1d(x, W, b, stride, pad)
    return F.convolution_nd(x, W, b, stride=stride, pad=pad)


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

    def one_clip(i):
        padded = np.pad(x[i], ((0, 0), (pad, pad)))
        if blocks is not None:
            pooled = _blocked_conv_pool(padded[0], blocks, cout, pool,
                                        keep // pool)
            pooled += bias
            np.maximum(pooled, 0, out=out[i])
            return
        rows = padded.strides[0]
        for t0 in range(0, keep, chunk):
            t1 = min(keep, t0 + chunk)
            windows = np.lib.stride_tricks.as_strided(
                padded[:, t0 * stride:], shape=(padded.shape[0], k, t1 - t0),
                strides=(rows, 4, 4 * stride), writeable=False)
            y = matmul(kernel,
                       np.ascontiguousarray(windows).reshape(-1, t1 - t0))
            if pool > 1:
                y = max_pool(y[:, None], (1, pool))[0][:, 0]
            y += bias
            np.maximum(y, 0, out=y)
            out[i, :, t0 // pool:t1 // pool] = y

    for_each_clip(one_clip, len(x))
    return out


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
