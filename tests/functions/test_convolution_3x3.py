"""The differentiable 3x3 convolution on the CPU against Chainer's:
without a bias, with only the input or only the kernel needing a
gradient, channel counts other than the kernel's size, one strip or a row
each (from mutation testing; the biased, three-channel case is in
test_training_kernels.py)."""
import importlib

import numpy as np
import pytest

import chainer
import chainer.functions as F

from chainer_tagger.functions import convolution_3x3

from gradients import assert_same_gradients

conv3x3_module = importlib.import_module(
    'chainer_tagger.functions.convolution_3x3')


@pytest.mark.parametrize('strip', [1 << 20, 30])
@pytest.mark.parametrize('channels', [1, 2, 5])
@pytest.mark.parametrize('needs', ['both', 'x', 'W'])
@pytest.mark.parametrize('bias', [True, False])
def test_equals_chainer(strip, channels, needs, bias, monkeypatch):
    monkeypatch.setattr(conv3x3_module, 'STRIP_ELEMENTS', strip)
    rng = np.random.RandomState(channels)
    x0 = rng.normal(size=(2, channels, 5, 7))
    W0 = rng.normal(size=(4, channels, 3, 3))
    b = rng.normal(size=4) if bias else None
    gy = rng.normal(size=(2, 4, 5, 7))
    assert_same_gradients(
        convolution_3x3, lambda x, W, b: F.convolution_2d(x, W, b, pad=1),
        (x0, W0, b), {'both': (0, 1), 'x': (0,), 'W': (1,)}[needs], gy)


def test_double_backprop_is_refused_by_name():
    x = chainer.Variable(np.ones((1, 1, 4, 4)))
    y = convolution_3x3(x, np.ones((2, 1, 3, 3)))
    with pytest.raises(NotImplementedError, match='^Convolution3x3: double'):
        chainer.grad([F.sum(y)], [x], enable_double_backprop=True)
