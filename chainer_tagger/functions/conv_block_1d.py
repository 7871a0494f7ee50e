"""SoundNet's layer: strided 1-D convolution, batch normalization, ReLU and
non-overlapping max pooling, as one function."""
import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.functions.batch_norm_folding import fold_batch_norm
from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.kernel_choice import cpu_kernels_apply


def conv_bn_relu_pool_1d(x, W, b, stride, pad, pool, normalize, affine=None):
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

    The kernel is chosen here: on the CPU, when no gradient is needed and
    ``affine`` is known, the CPU kernel (:func:`conv_block_1d_cpu`);
    otherwise Chainer's standard functions.
    """
    if (affine is not None and cpu_kernels_apply(x, W, b)
            and not chainer.config.enable_backprop):
        x = x.array if isinstance(x, chainer.Variable) else x
        return chainer.Variable(conv_block_1d_cpu(
            x, W.array, b.array, stride, pad, pool, affine))
    h = F.convolution_nd(x, W, b, stride=stride, pad=pad)
    h = F.relu(normalize(h))
    if pool:
        h = F.max_pooling_nd(h, pool, pool, cover_all=False)
    return h


def conv_block_1d_cpu(x, W, b, stride, pad, pool, affine):
    """The SoundNet layer on NumPy arrays, without a graph.

    BN is folded into the kernel; each clip's convolution is a GEMM of the
    kernel with strided windows of the input, taken in cache-sized chunks;
    max pooling comes before the bias and the ReLU (both monotonic, so the
    result is identical), and clips run one per core.  Equal to the graph
    path up to float rounding.
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
    chunk = pool * max(1, (1 << 20) // (cin * k * pool))

    def one_clip(i):
        padded = np.pad(x[i], ((0, 0), (pad, pad)))
        rows = padded.strides[0]
        for t0 in range(0, keep, chunk):
            t1 = min(keep, t0 + chunk)
            windows = np.lib.stride_tricks.as_strided(
                padded[:, t0 * stride:], shape=(padded.shape[0], k, t1 - t0),
                strides=(rows, 4, 4 * stride), writeable=False)
            y = kernel @ np.ascontiguousarray(windows).reshape(-1, t1 - t0)
            if pool > 1:
                y = y.reshape(len(y), -1, pool).max(axis=2)
            y += bias
            np.maximum(y, 0, out=y)
            out[i, :, t0 // pool:t1 // pool] = y

    for_each_clip(one_clip, len(x))
    return out
