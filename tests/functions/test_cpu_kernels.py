"""The CPU inference fast paths give what the Chainer graph gives."""
import numpy as np
import pytest

import chainer

from chainer_tagger.links import KerasConvBlock


@pytest.mark.parametrize('bn_mode', [0, 2])
@pytest.mark.parametrize('running_std_is', ['variance', 'std'])
@pytest.mark.parametrize('shape,pool', [((3, 2, 13, 29), (2, 4)),
                                        ((2, 5, 12, 21), (3, 5)),
                                        ((1, 1, 96, 1440), (2, 2))])
def test_conv_block_fast_path_equals_graph(bn_mode, running_std_is, shape,
                                           pool):
    rng = np.random.RandomState(0)
    block = KerasConvBlock(shape[1], 7, pool, bn_mode=bn_mode,
                           running_std_is=running_std_is)
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
