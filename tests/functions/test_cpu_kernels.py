"""The CPU inference fast paths give what the Chainer graph gives."""
import numpy as np
import pytest

import chainer

from chainer_tagger.links import KerasConvBlock


@pytest.mark.parametrize('bn_mode,per_clip', [(0, False), (2, False),
                                               (2, True)])
@pytest.mark.parametrize('running_std_is', ['variance', 'std'])
@pytest.mark.parametrize('shape,pool', [((3, 2, 13, 29), (2, 4)),
                                        ((2, 5, 12, 21), (3, 5)),
                                        ((1, 1, 96, 1440), (2, 2)),
                                        # two strips, the second only a
                                        # ragged row (statistics, no pool)
                                        ((1, 1, 81, 1440), (2, 2)),
                                        # nine shifted GEMMs (>= 16 in)
                                        ((2, 20, 10, 23), (3, 4)),
                                        # pools of one row: the second
                                        # strip pools its one row
                                        ((1, 1, 81, 1440), (1, 2)),
                                        # shifted GEMMs in three strips
                                        ((1, 20, 60, 200), (2, 4)),
                                        # taller than wide
                                        ((2, 3, 40, 9), (2, 2))])
def test_conv_block_fast_path_equals_graph(bn_mode, per_clip,
                                           running_std_is, shape, pool):
    """The inference kernel (BN folded, or with mode 2 the statistics
    taken strip by strip) against the differentiable CPU kernels."""
    rng = np.random.RandomState(0)
    block = KerasConvBlock(shape[1], 7, pool, bn_mode=bn_mode,
                           running_std_is=running_std_is, per_clip=per_clip)
    block.conv.W.array[...] = rng.normal(size=block.conv.W.shape)
    block.conv.b.array[...] = rng.normal(size=7)
    bn = block.bn
    bn.gamma.array[...] = rng.uniform(-2, 2, 7)  # negative scales too
    bn.beta.array[...] = rng.normal(size=7)
    bn.running_mean[...] = rng.normal(size=7)
    bn.running_std[...] = rng.uniform(0.5, 2, 7)
    x = rng.normal(size=shape).astype(np.float32)
    with chainer.using_config('train', False):
        graph = block(x).array
        with chainer.no_backprop_mode():
            fast = block(x).array
    assert fast.shape == graph.shape
    np.testing.assert_allclose(fast, graph, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('per_clip', [False, True])
def test_bn_mode_2_inference_never_writes_the_full_size_output(per_clip):
    """Keras BN mode 2 at inference runs the strip kernel, without a
    graph: before it, the differentiable convolution wrote the whole
    output (537 MB for 16 clips of the first block) to take its
    statistics, which made rnn0-msd twice as slow as crnn-msd."""
    from graph_functions import FunctionsRun
    block = KerasConvBlock(1, 8, (2, 4), bn_mode=2, per_clip=per_clip)
    x = np.random.RandomState(0).normal(size=(2, 1, 12, 40)).astype(
        np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode(), \
            FunctionsRun() as hook:
        block(x)
    assert hook.calls == []


@pytest.mark.parametrize('bn_mode', [0, 2])
def test_the_generic_graph_is_chainers_and_gives_the_same(bn_mode):
    """Inside ``generic_kernels()`` (the GPU's graph) the block is
    Chainer's convolution, BN, ELU and pooling, with the CPU kernel's
    values."""
    from chainer_tagger.functions import generic_kernels
    from graph_functions import FunctionsRun
    rng = np.random.RandomState(1)
    block = KerasConvBlock(3, 5, (2, 3), bn_mode=bn_mode)
    block.bn.gamma.array[...] = rng.uniform(-2, 2, 5)
    block.bn.beta.array[...] = rng.normal(size=5)
    x = rng.normal(size=(2, 3, 9, 14)).astype(np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        fast = block(x).array
        with generic_kernels(), FunctionsRun() as hook:
            generic = block(x).array
    hook.assert_standard('Convolution2DFunction', 'ELU', 'MaxPoolingND')
    np.testing.assert_allclose(generic, fast, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('bn_mode', [0, 2])
def test_with_a_graph_the_block_is_differentiable(bn_mode):
    """With backprop on (training, or a gradient asked at inference) the
    block is never the graph-free inference kernel: gradients reach its
    convolution."""
    block = KerasConvBlock(1, 4, (2, 2), bn_mode=bn_mode)
    x = np.random.RandomState(2).normal(size=(2, 1, 6, 8)).astype(
        np.float32)
    for train in (False, True):
        block.cleargrads()
        with chainer.using_config('train', train):
            y = block(x)
        chainer.functions.sum(y * y).backward()
        assert block.conv.W.grad is not None and \
            np.abs(block.conv.W.grad).max() > 0, train


def test_mode_0_training_without_a_graph_keeps_its_running_averages():
    """BN mode 0 in training takes the batch's statistics and moves its
    running averages, with or without a graph (the strip kernel, which
    keeps none, is for inference)."""
    x = np.random.RandomState(3).normal(1, 2, size=(2, 1, 6, 8)).astype(
        np.float32)
    for backprop in (True, False):
        block = KerasConvBlock(1, 4, (2, 2), bn_mode=0)
        with chainer.using_config('train', True), \
                chainer.using_config('enable_backprop', backprop):
            block(x)
        assert np.abs(block.bn.running_mean).max() > 0, backprop


@pytest.mark.parametrize('bn_mode', [0, 2])
def test_an_empty_batch_gives_an_empty_output(bn_mode):
    block = KerasConvBlock(1, 8, (2, 4), bn_mode=bn_mode)
    x = np.zeros((0, 1, 12, 40), np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        assert block(x).shape == (0, 8, 6, 10)


def test_elu_through_exp_is_expm1_within_one_unit_of_one():
    """The fast path's ELU (``exp(v) - 1``, vectorized) against float64
    ``expm1``: exact at and above 0, within 1.2e-7 below."""
    from chainer_tagger.functions.conv_block_2d import _elu_
    y = np.concatenate([np.linspace(-20, 5, 100001),
                        [-1e-30, -1e-8, 0.0, 1e-8]]).astype(np.float32)
    want = np.where(y > 0, y.astype(np.float64),
                    np.expm1(y.astype(np.float64)))
    got = _elu_(y.copy())
    np.testing.assert_array_equal(got[y >= 0], y[y >= 0])
    assert np.abs(got - want).max() <= 1.2e-7


def test_soundnet_fast_path_equals_graph():
    from chainer_tagger.models import SoundNet8
    rng = np.random.RandomState(0)
    net = SoundNet8()
    for name, link in net.namedlinks(skipself=True):
        if hasattr(link, 'avg_var'):  # give BN non-trivial statistics
            link.avg_mean[...] = rng.normal(size=link.avg_mean.shape)
            link.avg_var[...] = rng.uniform(0.5, 2, link.avg_var.shape)
            link.gamma.array[...] = rng.uniform(-2, 2, link.gamma.shape)
    x = rng.uniform(-0.5, 0.5, (3, 60000)).astype(np.float32)
    with chainer.using_config('train', False):
        graph = net.body(x).array
        with chainer.no_backprop_mode():
            fast = net.body(x).array
    assert fast.shape == graph.shape
    np.testing.assert_allclose(fast, graph, rtol=1e-4,
                               atol=1e-4 * np.abs(graph).max())
