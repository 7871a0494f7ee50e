"""KerasGRU and KerasBatchNormalization against direct NumPy transcriptions
of the Keras 1 equations."""
import numpy as np
import pytest

import chainer
from chainer import gradient_check

from chainer_tagger.configuration import KERAS_PRESETS
from chainer_tagger.errors import UsageError
from chainer_tagger.links import KerasBatchNormalization, KerasGRU


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def keras_gru_reference(x, W, U, b, units):
    """Keras 1.x GRU.step, one gate at a time, in float64."""
    Wz, Wr, Wh = np.split(W, 3, axis=1)
    Uz, Ur, Uh = np.split(U, 3, axis=1)
    bz, br, bh = np.split(b, 3)
    h = np.zeros((x.shape[0], units))
    states = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = hard_sigmoid(xt @ Wz + bz + h @ Uz)
        r = hard_sigmoid(xt @ Wr + br + h @ Ur)
        hh = np.tanh(xt @ Wh + bh + (r * h) @ Uh)
        h = z * h + (1 - z) * hh
        states.append(h)
    return np.stack(states, 1)


@pytest.mark.parametrize('return_sequences', [True, False])
def test_keras_gru_matches_keras_equations(return_sequences):
    rng = np.random.RandomState(0)
    gru = KerasGRU(7, 5, return_sequences=return_sequences)
    # Large weights drive the hard sigmoid into both clipped regions.
    for p in (gru.W, gru.U, gru.b):
        p.array[...] = rng.normal(scale=1.5, size=p.shape)
    x = rng.normal(size=(3, 6, 7)).astype(np.float32)
    got = gru(x).array
    want = keras_gru_reference(x.astype(np.float64), gru.W.array,
                               gru.U.array, gru.b.array, 5)
    if not return_sequences:
        want = want[:, -1]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-6)
    zr = 0.2 * (x[:, 0] @ gru.W.array[:, :10] + gru.b.array[:10]) + 0.5
    assert (zr > 1).any() and (zr < 0).any()


def test_keras_gru_is_differentiable():
    rng = np.random.RandomState(1)
    gru = KerasGRU(3, 2, return_sequences=True)
    for p in (gru.W, gru.U, gru.b):
        p.array[...] = rng.normal(scale=0.3, size=p.shape)
    gru.to_device('@numpy')
    x = rng.normal(size=(2, 4, 3))
    gy = rng.normal(size=(2, 4, 2))
    with chainer.using_config('dtype', np.float64):
        gru64 = KerasGRU(3, 2, return_sequences=True)
    for src, dst in zip(gru.params(), gru64.params()):
        dst.array = src.array.astype(np.float64)
    gradient_check.check_backward(
        gru64, x, gy, params=(gru64.W, gru64.U, gru64.b), dtype=np.float64,
        atol=1e-4, rtol=1e-4)


def bn_params(bn, rng):
    bn.gamma.array[...] = rng.uniform(0.5, 2, bn.size)
    bn.beta.array[...] = rng.normal(size=bn.size)
    bn.running_mean[...] = rng.normal(size=bn.size)
    bn.running_std[...] = rng.uniform(0.5, 2, bn.size)


#: Keras 1.x BatchNormalization by release, transcribed by hand from the
#: Keras source (keras/layers/normalization.py and the backends, tags
#: 1.0.4 to 1.2.2): what running_std holds ('std' or 'variance'), the
#: test-time divisor of x - running_mean as a function of (s, eps), the
#: mode-2 divisor of x - batch mean as a function of (biased var, eps),
#: eps and momentum.
KERAS_SOURCE = {
    # normalization.py @1.0.5 L104-111, L133
    '1.0.5': ('std', lambda s, e: s + e,
              lambda v, e: np.sqrt(v + e) + e, 1e-6, 0.9),
    # theano_backend.py @1.0.6 L293, L317
    '1.0.6-theano': ('std', lambda s, e: s + e,
                     lambda v, e: np.sqrt(v + e) + e, 1e-6, 0.9),
    # tensorflow_backend.py @1.0.6 L518-547 (tf.nn.batch_normalization)
    '1.0.6-tensorflow': ('variance', lambda s, e: np.sqrt(s + e),
                         lambda v, e: np.sqrt(v + e), 1e-6, 0.9),
    # theano_backend.py @1.0.7 L389-391: sqrt(var) + epsilon as the std
    '1.0.7-theano': ('variance', lambda s, e: np.sqrt(s) + e,
                     lambda v, e: np.sqrt(v) + e, 1e-6, 0.99),
    '1.0.7-tensorflow': ('variance', lambda s, e: np.sqrt(s + e),
                         lambda v, e: np.sqrt(v + e), 1e-6, 0.99),
    # normalization.py @1.0.8 L59 (eps 1e-5), theano_backend @1.0.8 L395
    '1.1-theano': ('variance', lambda s, e: np.sqrt(s + e),
                   lambda v, e: np.sqrt(v + e), 1e-5, 0.99),
    '1.1-tensorflow': ('variance', lambda s, e: np.sqrt(s + e),
                       lambda v, e: np.sqrt(v + e), 1e-5, 0.99),
    # normalization.py @1.2.0 L64 (eps 1e-3)
    '1.2': ('variance', lambda s, e: np.sqrt(s + e),
            lambda v, e: np.sqrt(v + e), 1e-3, 0.99),
}


def test_every_preset_is_transcribed():
    assert list(KERAS_PRESETS) == list(KERAS_SOURCE)
    for name, (holds, _, _, eps, momentum) in KERAS_SOURCE.items():
        preset = KERAS_PRESETS[name]
        assert (preset.running_std, preset.eps, preset.momentum) == \
            (holds, eps, momentum), name


@pytest.mark.parametrize('keras', list(KERAS_SOURCE))
@pytest.mark.parametrize('axis,shape', [(1, (2, 4, 3, 5)), (3, (2, 1, 3, 4))])
def test_bn_mode0_inference_follows_each_keras_release(keras, axis, shape):
    _, test_divisor, _, eps, _ = KERAS_SOURCE[keras]
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(shape[axis], axis=axis, keras=keras)
    bn_params(bn, rng)
    # Small stored values make the place of eps visible in float32.
    bn.running_std[:2] = [1e-6, 4e-6]
    x = rng.normal(size=shape).astype(np.float32)
    with chainer.using_config('train', False):
        got = bn(x).array
    s = [1] * len(shape)
    s[axis] = -1
    m, r = (np.asarray(a, np.float64).reshape(s)
            for a in (bn.running_mean, bn.running_std))
    g, b = bn.gamma.array.reshape(s), bn.beta.array.reshape(s)
    want = (x - m) / test_divisor(r, eps) * g + b
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('keras', list(KERAS_SOURCE))
@pytest.mark.parametrize('backprop', [False, True])
def test_bn_mode2_follows_each_keras_release(keras, backprop):
    _, _, batch_divisor, eps, _ = KERAS_SOURCE[keras]
    rng = np.random.RandomState(1)
    bn = KerasBatchNormalization(3, axis=1, mode=2, keras=keras)
    bn_params(bn, rng)
    x = rng.normal(loc=2, scale=3, size=(4, 3, 2, 5))
    x[:, 0] *= 1e-3  # a tiny variance: where eps enters matters
    x = x.astype(np.float32)
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', backprop):
        got = bn(x).array
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x64 - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)  # biased
    s = (slice(None), None, None)
    want = (x64 - mu) / batch_divisor(var, eps) * bn.gamma.array[s] + \
        bn.beta.array[s]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize('keras', list(KERAS_SOURCE))
def test_bn_training_stores_what_each_keras_release_stored(keras):
    holds, _, _, eps, momentum = KERAS_SOURCE[keras]
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(3, axis=1, keras=keras)
    x = rng.normal(loc=1, scale=2, size=(8, 3, 4)).astype(np.float32)
    with chainer.using_config('train', True):
        bn(x)
    var = x.astype(np.float64).var(axis=(0, 2))
    spread = np.sqrt(var + eps) if holds == 'std' else var
    np.testing.assert_allclose(bn.running_mean,
                               (1 - momentum) * x.mean(axis=(0, 2)),
                               rtol=1e-4)
    np.testing.assert_allclose(bn.running_std,
                               momentum + (1 - momentum) * spread, rtol=1e-4)


def test_bn_mode2_depends_on_the_batch_unless_per_clip():
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(3, axis=1, mode=2, keras='1.0.6-theano')
    bn_params(bn, rng)
    x = rng.normal(loc=2, scale=3, size=(4, 3, 2, 5)).astype(np.float32)
    with chainer.using_config('train', False):
        together = bn(x).array
        # A clip's output depends on its batch mates, exactly as in Keras ...
        assert np.abs(bn(x[:1]).array - together[:1]).max() > 0.1
        # ... unless statistics are taken per clip.
        bn.per_clip = True
        np.testing.assert_allclose(bn(x[:1]).array, bn(x).array[:1],
                                   rtol=1e-5, atol=1e-5)


def test_bn_mode2_statistics_are_summed_accurately_in_float32():
    """Half a million values per channel, laid out as a convolution's
    output (channels fastest), with a large mean: NumPy's float32 sums
    along such axes are naive and lose the variance's 6th digit; the
    link sums in float64."""
    rng = np.random.RandomState(0)
    x = (300 + 40 * rng.standard_normal((4, 96, 1366, 2))).astype(
        np.float32).transpose(0, 3, 1, 2)
    bn = KerasBatchNormalization(2, axis=1, mode=2, keras='1.0.6-theano')
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        got = bn(x).array
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=(0, 2, 3), keepdims=True)
    want = (x64 - mu) / (np.sqrt(x64.var(axis=(0, 2, 3), keepdims=True)
                                 + 1e-6) + 1e-6)
    assert np.abs(got - want).max() < 2e-6


def test_old_running_std_is_names_presets():
    assert KerasBatchNormalization(3, running_std_is='std').preset == \
        KERAS_PRESETS['1.0.6-theano']
    assert KerasBatchNormalization(3, running_std_is='variance').preset == \
        KERAS_PRESETS['1.1-theano']
    bn = KerasBatchNormalization(3, keras='1.1-theano', eps=1e-3)
    assert (bn.eps, bn.momentum) == (1e-3, 0.99)


def test_bn_rejects_wrong_size_and_mode():
    with pytest.raises(ValueError, match='mode'):
        KerasBatchNormalization(3, mode=1)
    bn = KerasBatchNormalization(3)
    with pytest.raises(ValueError, match='3 entries along axis 1'):
        bn(np.zeros((1, 4, 2, 2), np.float32))
    with pytest.raises(UsageError, match='1.0.6-tensorflow'):
        KerasBatchNormalization(3, keras='1.0.9')
