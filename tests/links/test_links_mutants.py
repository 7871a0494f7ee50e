"""What mutation testing of ``links/`` found untested by the layer tests:
the gradients of Keras BN on batch statistics for each release (the
divisor's derivative in the fused CPU kernel), an explicit momentum, BN
across processes, the conv block against the Keras-1 equations, its
dropout, and the GRU's input check."""
import numpy as np
import pytest

import chainer

import keras1_reference
from chainer_tagger.configuration import KERAS_PRESETS
from chainer_tagger.functions import generic_kernels
from chainer_tagger.links import (KerasBatchNormalization, KerasConvBlock,
                                  KerasGRU)


def _random_bn(bn, rng):
    bn.gamma.array[...] = rng.uniform(0.5, 2, bn.size)
    bn.beta.array[...] = rng.normal(size=bn.size)
    bn.running_mean[...] = rng.normal(size=bn.size)
    bn.running_std[...] = rng.uniform(0.5, 2, bn.size)


def _gradients(bn, x, gy, train):
    x = chainer.Variable(x)
    with chainer.using_config('train', train):
        y = bn(x)
    bn.cleargrads()
    y.grad = gy
    y.backward()
    return [np.asarray(g, np.float64) for g in (
        y.array, x.grad, bn.gamma.grad, bn.beta.grad)]


@pytest.mark.parametrize('keras', list(KERAS_PRESETS))
@pytest.mark.parametrize('mode,train', [(2, False), (0, True)])
def test_bn_gradients_on_batch_statistics_follow_each_release(keras, mode,
                                                              train):
    """Output and gradients of the fused float32 CPU kernel (the
    divisor and its derivative by the variance, per release) equal
    Chainer's own functions on float64 (automatic differentiation of the
    same formulas); a small variance in one channel makes where eps enters
    matter."""
    rng = np.random.RandomState(4)
    x = rng.normal(loc=1, scale=2, size=(3, 4, 3, 5))
    x[:, 0] *= 3e-3
    gy = rng.normal(size=x.shape)
    bn32 = KerasBatchNormalization(4, mode=mode, keras=keras)
    _random_bn(bn32, rng)
    with chainer.using_config('dtype', np.float64):
        bn64 = KerasBatchNormalization(4, mode=mode, keras=keras)
    for name in ('gamma', 'beta'):
        getattr(bn64, name).array[...] = getattr(bn32, name).array
    bn64.running_mean[...] = bn32.running_mean
    bn64.running_std[...] = bn32.running_std
    got = _gradients(bn32, x.astype(np.float32), gy.astype(np.float32),
                     train)
    with generic_kernels():
        want = _gradients(bn64, x, gy, train)
    for g, w, what in zip(got, want, ('y', 'gx', 'ggamma', 'gbeta')):
        np.testing.assert_allclose(g, w, rtol=2e-3,
                                   atol=2e-4 * np.abs(w).max(), err_msg=what)
    if train:
        np.testing.assert_allclose(bn32.running_mean, bn64.running_mean,
                                   rtol=1e-5)
        np.testing.assert_allclose(bn32.running_std, bn64.running_std,
                                   rtol=1e-4)


def test_bn_on_batch_statistics_runs_the_fused_cpu_kernel(monkeypatch):
    """On float32 NumPy arrays with a graph, BN on batch statistics runs
    the fused kernel (whose gradients the test above checks), and Chainer's
    functions inside ``generic_kernels()``."""
    import chainer_tagger.links.keras_batch_normalization as module
    calls = []
    original = module.batch_norm_activation_pool

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)
    monkeypatch.setattr(module, 'batch_norm_activation_pool', spy)
    bn = KerasBatchNormalization(3, mode=2, keras='1.0.6-theano')
    x = np.random.RandomState(9).normal(size=(2, 3, 4)).astype(np.float32)
    with chainer.using_config('train', False):
        bn(x)
        assert len(calls) == 1 and calls[0].update is None
        with generic_kernels():
            bn(x)
        assert len(calls) == 1
    with chainer.using_config('train', True):
        KerasBatchNormalization(3)(x)
    assert len(calls) == 2 and calls[1].update is not None


@pytest.mark.parametrize('backprop', [True, False])
@pytest.mark.parametrize('generic', [False, True])
def test_bn_running_averages_move_only_in_mode0_training(backprop, generic):
    """With or without a graph, on the CPU kernels or Chainer's functions
    (the GPU's graph): training in mode 0 updates the running averages (by
    Keras' momentum, from values other than the initial 0 and 1), mode 2
    never does."""
    import contextlib
    x = np.random.RandomState(10).normal(2, 3, size=(4, 3, 5)).astype(
        np.float32)
    var = x.astype(np.float64).var(axis=(0, 2))
    for mode in (0, 2):
        bn = KerasBatchNormalization(3, mode=mode, keras='1.1-theano')
        bn.running_mean[...] = [0.5, -1, 2]
        bn.running_std[...] = [2, 0.5, 3]
        with chainer.using_config('train', True), \
                chainer.using_config('enable_backprop', backprop), \
                (generic_kernels() if generic else contextlib.nullcontext()):
            bn(x)
        if mode == 0:
            np.testing.assert_allclose(
                bn.running_mean, 0.99 * np.array([0.5, -1, 2]) +
                0.01 * x.mean(axis=(0, 2)), rtol=1e-4)
            np.testing.assert_allclose(
                bn.running_std, 0.99 * np.array([2, 0.5, 3]) + 0.01 * var,
                rtol=1e-4)
        else:
            np.testing.assert_array_equal(bn.running_mean, [0.5, -1, 2])
            np.testing.assert_array_equal(bn.running_std, [2, 0.5, 3])


@pytest.mark.parametrize('path', ['fused', 'arrays', 'generic'])
def test_bn_mode2_per_clip_normalises_each_clip_alone(path):
    """``per_clip=True`` given to the constructor: each clip by its own
    mean and variance (float64 NumPy here), on the fused kernel (a graph),
    the array path (no graph) and Chainer's functions."""
    import contextlib
    rng = np.random.RandomState(11)
    x = rng.normal(2, 3, size=(3, 4, 2, 5)).astype(np.float32)
    x[1] *= 10
    bn = KerasBatchNormalization(4, mode=2, keras='1.1-theano',
                                 per_clip=True)
    _random_bn(bn, rng)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(2, 3), keepdims=True)
    var = x64.var(axis=(2, 3), keepdims=True)
    want = (x64 - mean) / np.sqrt(var + 1e-5) * \
        bn.gamma.array[:, None, None] + bn.beta.array[:, None, None]
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', path != 'arrays'), \
            (generic_kernels() if path == 'generic' else
             contextlib.nullcontext()):
        got = bn(x).array
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_bn_gradient_where_eps_is_outside_the_square_root():
    """Keras 1.0.7 on Theano divided by ``sqrt(var) + eps``: its derivative
    by the variance is ``0.5 / sqrt(var)``, not ``0.5 / (sqrt(var) +
    eps)``, which matters when the standard deviation is near eps (1e-6):
    the fused kernel's gradient against Chainer's float64 functions."""
    rng = np.random.RandomState(12)
    x = rng.normal(loc=1, scale=2, size=(3, 2, 3, 5))
    x[:, 0] *= 1e-6
    gy = rng.normal(size=x.shape)
    bn32 = KerasBatchNormalization(2, mode=2, keras='1.0.7-theano')
    _random_bn(bn32, rng)
    with chainer.using_config('dtype', np.float64):
        bn64 = KerasBatchNormalization(2, mode=2, keras='1.0.7-theano')
    bn64.gamma.array[...] = bn32.gamma.array
    bn64.beta.array[...] = bn32.beta.array
    got = _gradients(bn32, x.astype(np.float32), gy.astype(np.float32),
                     False)
    with generic_kernels():
        want = _gradients(bn64, x, gy, False)
    np.testing.assert_allclose(got[1][:, 0], want[1][:, 0], rtol=1e-2,
                               atol=1e-3 * np.abs(want[1][:, 0]).max())


def test_bn_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r'^Keras BatchNormalization mode '
                       r'must be 0 or 2, got 1$'):
        KerasBatchNormalization(3, mode=1)
    with pytest.raises(ValueError, match=r'^KerasBatchNormalization expects '
                       r'3 entries along axis 1, got input of shape '
                       r'\(1, 4, 2, 2\)$'):
        KerasBatchNormalization(3)(np.zeros((1, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"^running_std_is must be "
                       r"'variance' or 'std', got 'var'$"):
        KerasBatchNormalization(3, running_std_is='var')


def test_bn_explicit_momentum_and_eps_override_the_preset():
    bn = KerasBatchNormalization(2, axis=1, keras='1.1-theano', momentum=0.5)
    assert (bn.momentum, bn.eps) == (0.5, KERAS_PRESETS['1.1-theano'].eps)
    x = np.array([[[1.], [3.]], [[3.], [7.]]], np.float32)
    with chainer.using_config('train', True):
        bn(x)
    np.testing.assert_allclose(bn.running_mean, [1.0, 2.5])
    np.testing.assert_allclose(bn.running_std, [0.5 + 0.5, 0.5 + 2.0])


class _FakeMPI:
    """Two processes holding the same batch: Allreduce doubles."""

    def __init__(self):
        self.calls = 0

    def Allreduce(self, flag, buffer):
        self.calls += 1
        buffer *= 2


class _FakeCommunicator:
    size = 2

    def __init__(self):
        self.mpi_comm = _FakeMPI()


@pytest.mark.parametrize('train', [False, True])
def test_bn_statistics_across_processes(train):
    """With a communicator, mode 2 takes the statistics of all processes'
    batches (two equal ones here: the same numbers as one), through MPI,
    unless they are taken per clip."""
    rng = np.random.RandomState(5)
    x = rng.normal(size=(2, 3, 4, 2)).astype(np.float32)
    bn = KerasBatchNormalization(3, mode=2, keras='1.0.6-theano')
    _random_bn(bn, rng)
    with chainer.using_config('train', train):
        alone = bn(x).array
        bn.comm = _FakeCommunicator()
        np.testing.assert_allclose(bn(x).array, alone, rtol=1e-5, atol=1e-5)
        assert bn.comm.mpi_comm.calls == 2
        bn.per_clip = True
        per_clip = bn(x).array
        assert bn.comm.mpi_comm.calls == 2
        bn.comm = None
        np.testing.assert_allclose(bn(x).array, per_clip, rtol=1e-6)
    assert np.abs(per_clip - alone).max() > 0.01


@pytest.mark.parametrize('keras,bn_mode', [('1.1-theano', 0),
                                           ('1.0.6-theano', 0),
                                           ('1.0.6-theano', 2)])
def test_conv_block_follows_the_keras1_equations(keras, bn_mode):
    """A conv block at inference equals the float64 Keras-1 reference
    (tests/keras1_reference.py): 'same' 3x3 correlation, BN, ELU, pooling
    that drops the ragged border."""
    rng = np.random.RandomState(6)
    block = KerasConvBlock(2, 3, (2, 3), dropout=0.5, bn_mode=bn_mode,
                           keras=keras)
    _random_bn(block.bn, rng)
    block.conv.b.array[...] = rng.normal(size=3)
    x = rng.normal(size=(2, 2, 7, 11)).astype(np.float32)
    with chainer.using_config('train', False):
        got = block(x).array
    preset = KERAS_PRESETS[keras]
    keras_bn = (preset.running_std, preset.eps)
    weights = dict(gamma=block.bn.gamma.array, beta=block.bn.beta.array,
                   running_mean=block.bn.running_mean,
                   running_std=block.bn.running_std)
    h = keras1_reference.conv3x3_same(x.astype(np.float64),
                                      block.conv.W.array.astype(np.float64),
                                      block.conv.b.array)
    h = keras1_reference.batch_norm(h, weights, 1, keras_bn,
                                    batch_statistics=bn_mode == 2)
    want = keras1_reference.max_pool(keras1_reference.elu(h), (2, 3))
    assert got.shape == want.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_block_drops_out_only_while_training():
    """Keras' Dropout after the pooling: while training, a quarter of the
    outputs zeroed and the rest scaled by 1 / 0.75; at inference none."""
    rng = np.random.RandomState(7)
    block = KerasConvBlock(1, 4, (1, 1), dropout=0.25)
    nodrop = KerasConvBlock(1, 4, (1, 1), dropout=0.0)
    nodrop.copyparams(block)
    x = rng.normal(size=(8, 1, 16, 16)).astype(np.float32)
    with chainer.using_config('train', True):
        h = block(x).array
        full = nodrop(x).array
    assert (full != 0).all()
    assert 0.2 < (h == 0).mean() < 0.3
    kept = h != 0
    np.testing.assert_allclose(h[kept], full[kept] / 0.75, rtol=1e-5,
                               atol=1e-6)
    with chainer.using_config('train', False):
        np.testing.assert_array_equal(block(x).array, nodrop(x).array)


def test_conv_block_defaults_train_on_the_batch_without_dropout():
    """By default a block has no dropout and, while training, normalizes
    with the statistics of the whole batch (mode 0, not per clip)."""
    rng = np.random.RandomState(8)
    block = KerasConvBlock(1, 2, (1, 1))
    x = rng.normal(size=(2, 1, 4, 4)).astype(np.float32)
    x[1] *= 10
    with chainer.using_config('train', True):
        h = block(x).array
        first_alone = block(x[:1]).array
    assert (h != 0).all()
    assert np.abs(h[:1] - first_alone).max() > 0.1
    assert block.bn.mode == 0 and block.bn.preset == \
        KERAS_PRESETS['1.1-theano']


def test_gru_rejects_inputs_of_another_shape():
    gru = KerasGRU(3, 2)
    with pytest.raises(ValueError, match=r'^KerasGRU expects \(batch, time, '
                       r'3\), got \(2, 4, 5\)$'):
        gru(np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r'\(batch, time, 3\)'):
        gru(np.zeros((4, 3), np.float32))
    assert gru(np.zeros((2, 4, 3), np.float32)).shape == (2, 2)
