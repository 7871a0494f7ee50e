"""The differentiable 1-D convolution on the CPU against Chainer's N-d
convolution: without a bias, with only the input or only the kernel
needing a gradient, and on the shapes that decide between its strategies
(from mutation testing; the biased, all-gradients case is in
test_training_kernels.py)."""
import importlib

import numpy as np
import pytest

import chainer
import chainer.functions as F

from chainer_tagger.functions import convolution_1d

conv1d_module = importlib.import_module(
    'chainer_tagger.functions.convolution_1d')


def _compare(x, W, b, stride, pad, need_x=True, need_W=True):
    """Forward and the gradients asked for, float64, against Chainer."""
    rng = np.random.RandomState(0)
    results = []
    gy = None
    for conv in (convolution_1d, lambda x, W, b, s, p: F.convolution_nd(
            x, W, b, stride=s, pad=p)):
        xv = chainer.Variable(x.copy()) if need_x else x.copy()
        Wv = chainer.Variable(W.copy()) if need_W else W.copy()
        y = conv(xv, Wv, None if b is None else b.copy(), stride, pad)
        if gy is None:
            gy = rng.normal(size=y.shape)
        y.grad = gy.copy()
        y.backward()
        results.append((y.array, xv.grad if need_x else None,
                        Wv.grad if need_W else None))
    for got, want in zip(*results):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.fixture(params=['batched', 'chunks'])
def strategy(request, monkeypatch):
    """One GEMM for the batch, or clips in chunks (a single channel then
    in blocks of frames); small chunks and blocks, so there are several."""
    monkeypatch.setattr(conv1d_module, 'BATCHED_ELEMENTS',
                        1 << 30 if request.param == 'batched' else 0)
    monkeypatch.setattr(conv1d_module, 'CHUNK_ELEMENTS', 25)
    monkeypatch.setattr(conv1d_module, 'BLOCK_ELEMENTS', 30)
    return request.param


@pytest.mark.parametrize('channels,k,stride,pad', [
    (1, 6, 2, 3),   # a single channel in blocks of frames
    (1, 5, 2, 2),   # a single channel, k not a multiple of the stride
    (2, 1, 1, 0),   # a 1x1 kernel over two channels
    (3, 4, 1, 2)])
@pytest.mark.parametrize('needs', ['both', 'x', 'W'])
@pytest.mark.parametrize('bias', [True, False])
def test_equals_chainer(strategy, channels, k, stride, pad, needs, bias):
    rng = np.random.RandomState(channels * 10 + k)
    x = rng.normal(size=(3, channels, 43))  # a ragged last block
    W = rng.normal(size=(5, channels, k))
    b = rng.normal(size=5) if bias else None
    _compare(x, W, b, stride, pad, need_x=needs in ('both', 'x'),
             need_W=needs in ('both', 'W'))


def test_double_backprop_is_refused_by_name():
    x = chainer.Variable(np.ones((1, 1, 20)))
    W = chainer.Variable(np.ones((2, 1, 4)))
    y = convolution_1d(x, W, None, 2, 0)
    with pytest.raises(NotImplementedError, match='^Convolution1D: double'):
        chainer.grad([F.sum(y)], [x], enable_double_backprop=True)
