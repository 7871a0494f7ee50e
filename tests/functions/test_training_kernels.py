"""The differentiable CPU kernels against Chainer's standard functions:
forward values, gradients (``chainer.gradient_check`` in float64) and the
running statistics they keep."""
import importlib

import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

from chainer_tagger.functions import (
    BatchNormSpec, batch_norm_activation_pool, convolution_1d,
    convolution_3x3, generic_kernels)
from chainer_tagger.configuration import keras_preset
from chainer_tagger.links import KerasBatchNormalization, KerasConvBlock
from chainer_tagger.links.keras_batch_normalization import (
    batch_spread, divisor, divisor_of_variance)

from graph_functions import FunctionsRun

# The modules (their functions of the same names shadow them in the
# package).
conv1d_module = importlib.import_module(
    'chainer_tagger.functions.convolution_1d')
conv3x3_module = importlib.import_module(
    'chainer_tagger.functions.convolution_3x3')


def distinct(rng, shape, low=-2.0, high=2.0):
    """Values spread evenly and shuffled: no ties in a pooling window, and
    gaps far wider than gradient_check's step."""
    n = int(np.prod(shape))
    return (low + (high - low) * rng.permutation(n) / n).reshape(shape)


@pytest.mark.parametrize('strip', [1 << 20, 30])  # one strip, or a row each
def test_convolution_3x3_equals_chainer_and_has_its_gradients(strip,
                                                              monkeypatch):
    monkeypatch.setattr(conv3x3_module, 'STRIP_ELEMENTS', strip)
    rng = np.random.RandomState(0)
    x = rng.normal(size=(2, 3, 5, 7))
    W, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    y = convolution_3x3(x, W, b).array
    np.testing.assert_allclose(y, F.convolution_2d(x, W, b, pad=1).array,
                               rtol=1e-12, atol=1e-12)
    f32 = [a.astype(np.float32) for a in (x, W, b)]
    np.testing.assert_allclose(convolution_3x3(*f32).array,
                               F.convolution_2d(*f32, pad=1).array,
                               rtol=1e-5, atol=1e-5)
    gradient_check.check_backward(convolution_3x3, (x, W, b),
                                  rng.normal(size=y.shape), dtype=np.float64)


@pytest.mark.parametrize('batched', [True, False])
@pytest.mark.parametrize('channels', [1, 2])
def test_convolution_1d_equals_chainer_and_has_its_gradients(
        batched, channels, monkeypatch):
    """All three strategies: one GEMM for the batch; clips in chunks of
    windows; a single channel in blocks of frames (several chunks)."""
    monkeypatch.setattr(conv1d_module, 'BATCHED_ELEMENTS',
                        1 << 30 if batched else 0)
    monkeypatch.setattr(conv1d_module, 'CHUNK_ELEMENTS', 25)
    monkeypatch.setattr(conv1d_module, 'BLOCK_ELEMENTS', 30)
    rng = np.random.RandomState(1)
    x = rng.normal(size=(3, channels, 41))
    W, b = rng.normal(size=(5, channels, 6)), rng.normal(size=5)
    y = convolution_1d(x, W, b, 2, 3).array
    want = F.convolution_nd(x, W, b, stride=2, pad=3).array
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    gradient_check.check_backward(
        lambda x, W, b: convolution_1d(x, W, b, 2, 3), (x, W, b),
        rng.normal(size=y.shape), dtype=np.float64)


def test_convolution_1d_input_without_gradient():
    """SoundNet's first layer: the waveform needs no gradient, and none is
    computed; the kernel's gradient is still Chainer's."""
    rng = np.random.RandomState(2)
    x = rng.normal(size=(2, 1, 50)).astype(np.float32)
    W = chainer.Variable(rng.normal(size=(3, 1, 8)).astype(np.float32))
    b = chainer.Variable(np.zeros(3, np.float32))
    gy = rng.normal(size=(2, 3, 22)).astype(np.float32)
    y = convolution_1d(x, W, b, 2, 0)
    y.grad = gy
    y.backward()
    W2 = chainer.Variable(W.array.copy())
    want = F.convolution_nd(x, W2, b.array, stride=2)
    want.grad = gy
    want.backward()
    np.testing.assert_allclose(W.grad, W2.grad, rtol=1e-5, atol=1e-5)


def keras_bn_graph(x, gamma, beta, preset, axis, per_clip):
    """Keras-1 BN on batch statistics as Chainer's graph, with the link's
    own formulas (what KerasBatchNormalization runs inside
    generic_kernels())."""
    axes = tuple(i for i in range(x.ndim)
                 if i != axis and not (per_clip and i == 0))
    mean = F.mean(x, axis=axes, keepdims=True)
    centred = x - F.broadcast_to(mean, x.shape)
    var = F.mean(F.square(centred), axis=axes, keepdims=True)
    d = divisor(preset, batch_spread(preset, var, F.sqrt), F.sqrt)
    shape = [1] * x.ndim
    shape[axis] = -1
    return (centred / F.broadcast_to(d, x.shape)
            * F.broadcast_to(F.reshape(gamma, shape), x.shape)
            + F.broadcast_to(F.reshape(beta, shape), x.shape))


CASES = [  # (activation, pool, shape, axis)
    (None, None, (3, 4, 5, 6), 1),
    (None, None, (3, 1, 4, 6), 3),  # the taggers' input BN, per frame
    ('elu', (2, 3), (3, 4, 5, 7), 1),  # ragged borders on both axes
    ('relu', (4,), (3, 4, 17), 1),  # SoundNet, 1-D
    ('relu', None, (3, 4, 9), 1),
    ('elu', None, (3, 4, 9), 1),
    ('relu', None, (2, 3, 4, 5), 3),  # activations on the any-axis path
    ('elu', None, (2, 3, 4, 5), 2),
]
#: One Keras release per way of dividing: (running_std, divisor) =
#: (std, s + eps), (variance, sqrt(s) + eps), (variance, sqrt(s + eps)).
PRESETS = ['1.0.6-theano', '1.0.7-theano', '1.2']


@pytest.mark.parametrize('preset', PRESETS)
@pytest.mark.parametrize('per_clip', [False, True])
@pytest.mark.parametrize('activation,pool,shape,axis', CASES)
def test_batch_norm_activation_pool_equals_chainer_graph(
        preset, per_clip, activation, pool, shape, axis):
    preset = keras_preset(preset)
    rng = np.random.RandomState(3)
    size = shape[axis]
    x = distinct(rng, shape)
    gamma = rng.uniform(0.5, 2, size) * rng.choice([-1, 1], size)
    beta = rng.normal(size=size)

    def fused(x, gamma, beta):
        spec = BatchNormSpec(gamma, beta,
                             lambda var: divisor_of_variance(preset, var),
                             per_clip, None)
        return batch_norm_activation_pool(x, spec, axis, activation, pool)

    def graph(x, gamma, beta):
        h = keras_bn_graph(x, gamma, beta, preset, axis, per_clip)
        h = {'elu': F.elu, 'relu': F.relu, None: lambda h: h}[activation](h)
        if pool:
            h = F.max_pooling_nd(h, pool, pool, cover_all=False)
        return h

    got = fused(x, gamma, beta)
    want = graph(x, gamma, beta)
    np.testing.assert_allclose(got.array, want.array, rtol=1e-10,
                               atol=1e-12)
    gy = rng.normal(size=got.shape)
    gradient_check.check_backward(fused, (x, gamma, beta), gy,
                                  dtype=np.float64, eps=1e-5, atol=1e-5,
                                  rtol=1e-4)
    inputs = [[chainer.Variable(a.copy()) for a in (x, gamma, beta)]
              for _ in range(2)]
    for f, variables in zip((fused, graph), inputs):
        y = f(*variables)
        y.grad = gy
        y.backward()
    for mine, chainers in zip(*inputs):
        np.testing.assert_allclose(mine.grad, chainers.grad, rtol=1e-8,
                                   atol=1e-10)


def test_double_backprop_asks_for_the_generic_kernels():
    x = chainer.Variable(np.random.RandomState(4).normal(size=(2, 2, 4, 4)))
    W = chainer.Variable(np.ones((3, 2, 3, 3)))
    y = F.sum(convolution_3x3(x, W))
    with pytest.raises(NotImplementedError, match='generic_kernels'):
        y.backward(enable_double_backprop=True)


def random_block(rng, bn_mode, keras, channels=(3, 5), pool=(2, 3),
                 per_clip=False):
    block = KerasConvBlock(*channels, pool, bn_mode=bn_mode, keras=keras,
                           per_clip=per_clip)
    block.conv.W.array[...] = rng.normal(size=block.conv.W.shape)
    block.conv.b.array[...] = rng.normal(size=block.conv.b.shape)
    block.bn.gamma.array[...] = rng.uniform(-2, 2, channels[1])
    block.bn.beta.array[...] = rng.normal(size=channels[1])
    return block


def run_and_backprop(function, link, x, gy):
    """``function(link, x)`` and its gradients, with the functions it ran
    (:class:`FunctionsRun`)."""
    link.cleargrads()
    x = chainer.Variable(x.copy())
    with FunctionsRun() as hook:
        y = function(link, x)
    y.grad = gy
    y.backward()
    grads = {name: p.grad.copy() for name, p in link.namedparams()}
    return y.array, x.grad, grads, hook


def keras_bn_reference(link, x, running):
    """Keras-1 BN of ``link`` (its preset, axis, mode, per_clip) while
    training, written here with Chainer's standard functions from the
    preset table (not the link's helpers); appends the expected running
    ``(mean, spread)`` updates to ``running``."""
    preset = link.preset
    axes = tuple(i for i in range(x.ndim)
                 if i != link.axis and not (link.per_clip and i == 0))
    mean = F.mean(x, axis=axes, keepdims=True)
    centred = x - F.broadcast_to(mean, x.shape)
    var = F.mean(F.square(centred), axis=axes, keepdims=True)
    # What running_std holds and what the release divides by.
    spread = F.sqrt(var + preset.eps) if preset.running_std == 'std' \
        else var
    d = {'s + eps': lambda: spread + preset.eps,
         'sqrt(s) + eps': lambda: F.sqrt(spread) + preset.eps,
         'sqrt(s + eps)': lambda: F.sqrt(spread + preset.eps)}[
             preset.divisor]()
    running.append((mean.array.reshape(-1), spread.array.reshape(-1)))
    shape = [1] * x.ndim
    shape[link.axis] = -1
    return (centred / F.broadcast_to(d, x.shape)
            * F.broadcast_to(F.reshape(link.gamma, shape), x.shape)
            + F.broadcast_to(F.reshape(link.beta, shape), x.shape))


def expected_running(link, running):
    """The running statistics after ``running`` updates from the initial
    (0, 1), with the preset's momentum; unchanged in mode 2."""
    mean, std = np.zeros(link.size), np.ones(link.size)
    if link.mode == 0:
        m = link.preset.momentum
        for batch_mean, batch_spread_ in running:
            mean, std = m * mean + (1 - m) * batch_mean, \
                m * std + (1 - m) * batch_spread_
    return mean, std


def check_training_step_against_reference(make_link, x, gy, reference,
                                          cpu_labels, generic_labels, tol):
    """One training step of a link on the CPU kernels and on the generic
    graph (``generic_kernels()``: the GPU's), each against ``reference``
    (Chainer's standard functions, written in the test) on a third copy:
    output, input and parameter gradients, running statistics.  The hook
    checks that each path ran what it claims: the generic graph only
    Chainer's functions (a graph that kept the CPU kernels fails)."""
    links = [make_link() for _ in range(3)]
    running = []
    with chainer.using_config('train', True):
        want = run_and_backprop(
            lambda link, v: reference(link, v, running), links[2], x, gy)
        cpu = run_and_backprop(lambda link, v: link(v), links[0], x, gy)
        with generic_kernels():
            generic = run_and_backprop(lambda link, v: link(v), links[1],
                                       x, gy)
    assert want[3].not_chainers() == []
    assert set(cpu_labels) <= {label for _, label in cpu[3].calls}
    generic[3].assert_standard(*generic_labels)
    scale = max(np.abs(g).max() for g in want[2].values())
    bn = [link.bn if hasattr(link, 'bn') else link for link in links]
    mean, std = expected_running(bn[2], running)
    for got, link, path in zip((cpu, generic), bn, ('cpu', 'generic')):
        y, gx, grads, _ = got
        np.testing.assert_allclose(y, want[0], rtol=tol, atol=tol,
                                   err_msg=path)
        np.testing.assert_allclose(gx, want[1], rtol=10 * tol,
                                   atol=10 * tol, err_msg=path)
        # (A conv bias's gradient is zero up to rounding: batch statistics
        # cancel it; hence a tolerance on the scale of all gradients.)
        for name in want[2]:
            np.testing.assert_allclose(grads[name], want[2][name],
                                       rtol=10 * tol, atol=0.1 * tol * scale,
                                       err_msg=path + ' ' + name)
        np.testing.assert_allclose(link.running_mean, mean, rtol=1e-5,
                                   atol=1e-6, err_msg=path)
        np.testing.assert_allclose(link.running_std, std, rtol=1e-5,
                                   atol=1e-6, err_msg=path)
    return bn


@pytest.mark.parametrize('bn_mode,keras,per_clip', [
    (0, '1.1-theano', False), (0, '1.0.6-theano', False),
    (2, '1.0.7-theano', True), (2, '1.2', False)])
def test_conv_block_training_step_equals_chainers_functions(
        bn_mode, keras, per_clip):
    """The whole conv block while training, on the CPU kernels and on the
    GPU's graph: output, every gradient and the running statistics as
    Chainer's convolution, the Keras BN equations, ELU and max pooling."""
    rng = np.random.RandomState(5)
    x = rng.normal(size=(3, 3, 11, 20)).astype(np.float32)
    gy = rng.normal(size=(3, 5, 5, 6)).astype(np.float32)

    def reference(block, v, running):
        h = F.convolution_2d(v, block.conv.W, block.conv.b, pad=1)
        h = F.elu(keras_bn_reference(block.bn, h, running))
        return F.max_pooling_2d(h, block.pool, stride=block.pool,
                                cover_all=False)
    bns = check_training_step_against_reference(
        lambda: random_block(np.random.RandomState(6), bn_mode, keras,
                             per_clip=per_clip),
        x, gy, reference, ('Convolution3x3', 'BatchNormActivationPool'),
        ('Convolution2DFunction', 'ELU', 'MaxPoolingND'), 1e-4)
    if bn_mode == 0:  # the running statistics moved
        assert not np.allclose(bns[0].running_mean, 0)


def test_keras_bn_link_training_equals_chainers_functions():
    """The taggers' input BN (per time frame, axis 3) while training."""
    rng = np.random.RandomState(7)

    def make():
        bn = KerasBatchNormalization(6, axis=3, keras='1.0.6-theano')
        bn.gamma.array[...] = np.linspace(-1, 2, 6)
        return bn
    x = rng.normal(2, 3, size=(4, 1, 5, 6)).astype(np.float32)
    gy = rng.normal(size=x.shape).astype(np.float32)
    bns = check_training_step_against_reference(
        make, x, gy, keras_bn_reference, ('BatchNormActivationPool',),
        ('Mean', 'sqrt'), 1e-5)
    assert not np.allclose(bns[0].running_mean, 0)


@pytest.fixture
def float64_kernels(monkeypatch):
    """SoundNet's layers on the CPU kernels in float64 too (a float64
    model normally runs Chainer's functions): exact comparisons, where in
    float32 rounding moves values across the ReLU's kink and changes
    pooling maxima through eight layers.  The choice stays the package's
    (``cpu_kernels_apply``, which ``generic_kernels()`` switches off),
    shown float32 stand-ins of the float64 NumPy arrays."""
    module = importlib.import_module('chainer_tagger.functions.conv_block_1d')
    choose = module.cpu_kernels_apply

    def float32_stand_in(a):
        a = a.array if isinstance(a, chainer.Variable) else a
        if isinstance(a, np.ndarray) and a.dtype == np.float64:
            return np.empty(0, np.float32)
        return a
    monkeypatch.setattr(module, 'cpu_kernels_apply', lambda x, *params: choose(
        *(float32_stand_in(a) for a in (x,) + params)))


def soundnet_scenes_reference(net, x):
    """SoundNet-8's scene logits while training with Chainer's standard
    functions called directly: N-d convolution, batch normalization on
    batch statistics (updating the running averages as Chainer's link
    does), ReLU, N-d max pooling."""
    from chainer_tagger.configuration import (SOUNDNET_INPUT_SCALE,
                                              SOUNDNET_LAYERS)
    h = F.expand_dims(x, 1) * SOUNDNET_INPUT_SCALE
    for layer in SOUNDNET_LAYERS:
        conv, bn = net[layer.name], net['bn' + layer.name[4:]]
        h = F.convolution_nd(h, conv.W, conv.b, stride=layer.stride,
                             pad=layer.pad)
        h = F.relu(F.batch_normalization(
            h, bn.gamma, bn.beta, eps=bn.eps, running_mean=bn.avg_mean,
            running_var=bn.avg_var, decay=bn.decay))
        if layer.pool:
            h = F.max_pooling_nd(h, layer.pool, layer.pool, cover_all=False)
    return F.convolution_nd(h, net.conv8_2.W, net.conv8_2.b, stride=2)


def test_soundnet_training_step_equals_chainers_functions(float64_kernels):
    """SoundNet's layers and heads while training (batch statistics,
    Chainer's running averages with the unbiased variance), on the CPU
    kernels and on the GPU's graph, against Chainer's functions."""
    from chainer_tagger.models import SoundNet8
    rng = np.random.RandomState(8)
    with chainer.using_config('dtype', np.float64):
        nets = [SoundNet8() for _ in range(3)]
    for name, p in nets[0].namedparams():
        fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else 1
        p.array[...] = rng.normal(scale=fan_in ** -0.5, size=p.shape)
        if name.endswith('gamma'):
            p.array[...] = rng.uniform(-2, 2, p.shape)
    for net in nets[1:]:
        net.copyparams(nets[0])
    x = rng.uniform(-0.5, 0.5, (2, 220000))  # one step of conv8_2
    gy = rng.normal(size=(2, 401, 1))
    hooks, outputs = [], []
    with chainer.using_config('train', True):
        for net, path in zip(nets, ('cpu', 'generic', 'reference')):
            net.cleargrads()
            with FunctionsRun() as hook:
                if path == 'reference':
                    h = soundnet_scenes_reference(net, x)
                elif path == 'generic':
                    with generic_kernels():
                        h = net.scenes(x)
                else:
                    h = net.scenes(x)
            hooks.append(hook)
            h.grad = gy
            h.backward()
            outputs.append(h.array)
    assert {'Convolution1D', 'BatchNormActivationPool'} <= {
        label for _, label in hooks[0].calls}
    hooks[1].assert_standard('Convolution2DFunction', 'BatchNormalization',
                             'ReLU', 'MaxPoolingND')
    assert hooks[2].not_chainers() == []
    want = nets[2]
    for net, h, path in zip(nets[:2], outputs, ('cpu', 'generic')):
        np.testing.assert_allclose(h, outputs[2], rtol=1e-9, atol=1e-9,
                                   err_msg=path)
        for (name, p), (_, q) in zip(sorted(net.namedparams()),
                                     sorted(want.namedparams())):
            if q.grad is None:  # conv8 (objects) is not on the path
                assert p.grad is None, name
                continue
            # (The convs' bias gradients are zero up to rounding.)
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-7,
                                       atol=1e-9, err_msg=path + name)
        for name, link in net.namedlinks(skipself=True):
            if hasattr(link, 'avg_var'):
                other = want[name.strip('/')]
                np.testing.assert_allclose(link.avg_mean, other.avg_mean,
                                           rtol=1e-9, err_msg=path + name)
                np.testing.assert_allclose(link.avg_var, other.avg_var,
                                           rtol=1e-9, err_msg=path + name)


def test_dropout_keeps_the_ratio_scales_and_backpropagates_its_mask():
    from chainer_tagger.functions import dropout
    x = chainer.Variable(np.ones((4, 3, 50, 40), np.float32))
    with chainer.using_config('train', True):
        np.random.seed(0)
        y = dropout(x, 0.25)
        np.random.seed(0)
        again = dropout(x.array, 0.25).array
    kept = y.array != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.array[kept], 1 / 0.75)
    np.testing.assert_array_equal(again, y.array)  # seeded: reproducible
    assert 0.7 < kept[0].mean() < 0.8 and 0.7 < kept[3].mean() < 0.8
    assert (kept[0] != kept[1]).any()  # each clip its own mask
    y.grad = np.full(y.shape, 2, np.float32)
    y.backward()
    np.testing.assert_allclose(x.grad, np.where(kept, 2 / 0.75, 0))
    with chainer.using_config('train', False):
        assert dropout(x, 0.25).array is x.array
