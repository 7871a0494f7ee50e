"""SoundNet's 1-D layers in the form a GPU runs: Chainer's 2-D convolution
and pooling over ``(N, C, 1, T)`` (cuDNN), equal to the N-d functions."""
import numpy as np
import pytest

import chainer
import chainer.functions as F

from chainer_tagger.functions import generic_kernels
from chainer_tagger.functions.conv_block_1d import (convolution_1d_as_2d,
                                                    max_pooling_1d_as_2d)


@pytest.mark.parametrize('cin,k,stride,pad', [
    (1, 64, 2, 32), (16, 32, 2, 16), (32, 8, 2, 4), (256, 4, 2, 2),
    (512, 16, 12, 4)])
def test_convolution_as_2d_equals_convolution_nd(cin, k, stride, pad):
    rng = np.random.RandomState(cin + k)
    x = rng.normal(size=(2, cin, 97)).astype(np.float64)
    W = rng.normal(size=(5, cin, k)).astype(np.float64)
    b = rng.normal(size=5).astype(np.float64)
    gy = None
    results = []
    for conv in (convolution_1d_as_2d,
                 lambda x, W, b, s, p: F.convolution_nd(x, W, b, stride=s,
                                                        pad=p)):
        xs = [chainer.Variable(a.copy()) for a in (x, W, b)]
        y = conv(*xs, stride, pad)
        if gy is None:
            gy = rng.normal(size=y.shape)
        y.grad = gy.copy()
        y.backward()
        results.append([y.array] + [v.grad for v in xs])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('t,pool', [(96, 8), (101, 8), (37, 4)])
def test_max_pooling_as_2d_equals_max_pooling_nd(t, pool):
    rng = np.random.RandomState(t)
    x = rng.normal(size=(2, 3, t))
    results = []
    for pooling in (max_pooling_1d_as_2d,
                    lambda h, p: F.max_pooling_nd(h, p, p, cover_all=False)):
        v = chainer.Variable(x.copy())
        y = pooling(v, pool)
        y.grad = np.arange(y.size, dtype=np.float64).reshape(y.shape)
        y.backward()
        results.append((y.array, v.grad))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


class FunctionNames(chainer.FunctionHook):
    """The labels of the functions run, with the spatial rank of those
    that have one (Chainer 7's pooling is ``MaxPoolingND`` of any rank)."""

    def __init__(self):
        self.names = set()

    def forward_preprocess(self, function, in_data):
        self.names.add((function.label, getattr(function, 'ndim', None)))


def test_soundnet_graph_uses_the_2d_functions_only():
    """The graph a GPU runs (``generic_kernels()``, training and
    inference) convolves and pools in 2-D only: Chainer 7 hands N-d
    convolutions and pooling to cuDNN only for ``ndim >= 2``."""
    from chainer_tagger.models import SoundNet8
    net = SoundNet8()
    x = np.random.RandomState(0).uniform(-0.3, 0.3, (1, 300000)).astype(
        np.float32)
    for train in (True, False):
        hook = FunctionNames()
        with generic_kernels(), hook, chainer.using_config('train', train):
            net.scenes(x)
        assert ('Convolution2DFunction', None) in hook.names
        assert ('MaxPoolingND', 2) in hook.names
        ranks = {ndim for _, ndim in hook.names if ndim is not None}
        assert ranks == {2}, hook.names


def _reference_block(x, W, b, stride, pad, pool, scale, shift):
    """The layer in float64 from Chainer's N-d functions:
    ``max_pool(relu(conv1d(x) * scale + shift))``, ragged end dropped."""
    h = F.convolution_nd(x.astype(np.float64), W.astype(np.float64),
                         b.astype(np.float64), stride=stride, pad=pad).array
    h = np.maximum(h * scale[:, None] + shift[:, None], 0)
    if pool:
        keep = h.shape[2] // pool * pool
        h = h[:, :, :keep].reshape(h.shape[0], h.shape[1], -1, pool).max(-1)
    return h


@pytest.mark.parametrize('n,cin,k,stride,pad,pool,t', [
    (1, 1, 64, 2, 32, 8, 3001),    # SoundNet's conv1: single-channel blocks
    (1, 1, 64, 2, 32, 8, 120001),  # ... in several steps of blocks
    (3, 1, 64, 2, 32, 8, 777),     # clips side by side, a ragged end
    (2, 1, 9, 2, 4, 4, 400),       # one channel, k % stride != 0
    (2, 1, 10, 2, 5, 4, 400),      # one channel, (k / stride) % pool == 1
    (2, 2, 8, 2, 4, 2, 300),       # two channels: never the blocks
    (2, 1, 12, 2, 3, 4, 500),      # one channel, (k / stride) % pool != 0
    (2, 16, 32, 2, 16, 8, 403),    # SoundNet's conv2: stride phases
    (1, 256, 16, 2, 4, 2, 900),    # stride phases in several chunks
    (2, 8, 5, 2, 2, 3, 301),       # k % stride != 0: strided windows
    (3, 256, 16, 1, 8, 2, 700),    # stride 1 in several chunks
    (2, 4, 3, 1, 1, None, 50),     # no pooling
    (1, 4, 8, 4, 0, 2, 35),        # a few outputs only
])
def test_the_cpu_kernel_equals_chainers_functions(n, cin, k, stride, pad,
                                                  pool, t):
    """Every path of the folded inference kernel (BN folded, pooling
    before the bias and the ReLU, clips side by side or one by one, the
    steps in chunks) against float64 N-d functions; a negative BN scale
    too, which turns the pooled maxima into minima before folding."""
    from chainer_tagger.functions.conv_block_1d import conv_block_1d_cpu
    rng = np.random.RandomState(n * 1000 + cin + k + t)
    x = rng.normal(size=(n, cin, t)).astype(np.float32)
    W = (rng.normal(size=(6, cin, k)) / np.sqrt(cin * k)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    scale = rng.uniform(0.5, 2, 6).astype(np.float32) * [1, -1, 1, 1, -1, 1]
    shift = rng.normal(size=6).astype(np.float32)
    got = conv_block_1d_cpu(x, W, b, stride, pad, pool,
                            (scale.astype(np.float32), shift))
    want = _reference_block(x, W, b, stride, pad, pool, scale, shift)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
