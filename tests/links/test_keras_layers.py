"""KerasGRU and KerasBatchNormalization against direct NumPy transcriptions
of the Keras 1 equations."""
import numpy as np
import pytest

import chainer
from chainer import gradient_check

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


def test_bn_mode0_inference_variance_semantics():
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(4, axis=1, running_std_is='variance')
    bn_params(bn, rng)
    x = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)
    with chainer.using_config('train', False):
        got = bn(x).array
    s = (slice(None), None, None)
    want = ((x - bn.running_mean[s]) / np.sqrt(bn.running_std[s] + 1e-5)
            * bn.gamma.array[s] + bn.beta.array[s])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bn_mode0_inference_keras_1_0_std_semantics_along_time_axis():
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(5, axis=3, running_std_is='std')
    bn_params(bn, rng)
    x = rng.normal(size=(2, 1, 3, 5)).astype(np.float32)
    with chainer.using_config('train', False):
        got = bn(x).array
    want = ((x - bn.running_mean) / (bn.running_std + 1e-6)
            * bn.gamma.array + bn.beta.array)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('running_std_is', ['variance', 'std'])
def test_bn_mode2_uses_batch_statistics_at_inference(running_std_is):
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(3, axis=1, mode=2,
                                 running_std_is=running_std_is)
    bn_params(bn, rng)
    x = rng.normal(loc=2, scale=3, size=(4, 3, 2, 5)).astype(np.float32)
    with chainer.using_config('train', False):
        got = bn(x).array
    m = x.mean(axis=(0, 2, 3), keepdims=True)
    v = x.var(axis=(0, 2, 3), keepdims=True)
    if running_std_is == 'std':
        normed = (x - m) / (np.sqrt(v + 1e-6) + 1e-6)
    else:
        normed = (x - m) / np.sqrt(v + 1e-5)
    s = (slice(None), None, None)
    want = normed * bn.gamma.array[s] + bn.beta.array[s]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # A clip's output depends on its batch mates, exactly as in Keras ...
    with chainer.using_config('train', False):
        alone = bn(x[:1]).array
    assert np.abs(alone - got[:1]).max() > 0.1
    # ... unless statistics are taken per clip.
    bn.per_clip = True
    with chainer.using_config('train', False):
        np.testing.assert_allclose(bn(x[:1]).array, bn(x).array[:1],
                                   rtol=1e-5, atol=1e-5)


def test_bn_mode0_training_updates_running_statistics_like_keras():
    rng = np.random.RandomState(0)
    bn = KerasBatchNormalization(3, axis=1, running_std_is='variance')
    x = rng.normal(loc=1, scale=2, size=(8, 3, 4)).astype(np.float32)
    with chainer.using_config('train', True):
        bn(x)
    np.testing.assert_allclose(bn.running_mean,
                               0.01 * x.mean(axis=(0, 2)), rtol=1e-4)
    np.testing.assert_allclose(bn.running_std,
                               0.99 + 0.01 * x.var(axis=(0, 2)), rtol=1e-4)


def test_bn_rejects_wrong_size_and_mode():
    with pytest.raises(ValueError, match='mode'):
        KerasBatchNormalization(3, mode=1)
    bn = KerasBatchNormalization(3)
    with pytest.raises(ValueError, match='3 entries along axis 1'):
        bn(np.zeros((1, 4, 2, 2), np.float32))
