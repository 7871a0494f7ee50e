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

from gradients import assert_same_gradients

conv1d_module = importlib.import_module(
    'chainer_tagger.functions.convolution_1d')


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
    assert_same_gradients(
        lambda x, W, b: convolution_1d(x, W, b, stride, pad),
        lambda x, W, b: F.convolution_nd(x, W, b, stride=stride, pad=pad),
        (x, W, b), {'both': (0, 1), 'x': (0,), 'W': (1,)}[needs])


def test_double_backprop_is_refused_by_name():
    x = chainer.Variable(np.ones((1, 1, 20)))
    W = chainer.Variable(np.ones((2, 1, 4)))
    y = convolution_1d(x, W, None, 2, 0)
    with pytest.raises(NotImplementedError, match='^Convolution1D: double'):
        chainer.grad([F.sum(y)], [x], enable_double_backprop=True)
