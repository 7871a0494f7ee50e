"""The fused BN, activation and pooling: what it refuses, and its compiled
loops under Numba's bounds checking (its numbers and gradients are
checked against Chainer's graph in test_training_kernels.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import chainer
import chainer.functions as F

from chainer_tagger.configuration import keras_preset
from chainer_tagger.functions import BatchNormSpec, batch_norm_activation_pool
from chainer_tagger.links.keras_batch_normalization import \
    divisor_of_variance

from conftest import ROOT
from gradients import assert_same_gradients
from test_training_kernels import distinct, keras_bn_graph


def _spec(size):
    return BatchNormSpec(np.ones(size), np.zeros(size),
                         lambda var: (np.sqrt(var + 1e-3),
                                      0.5 / np.sqrt(var + 1e-3)),
                         False, None)


def test_what_it_refuses():
    x = np.ones((2, 3, 16, 300))
    with pytest.raises(ValueError, match=r"^activation must be one of "
                       r"\(None, 'relu', 'elu'\), got 'tanh'$"):
        batch_norm_activation_pool(x, _spec(3), activation='tanh')
    for pool, axis in [((2, 2, 2), 1), ((2, 2), 2), ((16, 17), 1),
                       ((1, 257), 1)]:
        with pytest.raises(ValueError, match='^pooling needs axis 1, one or '
                           'two pooled axes and a window of at most 256 '
                           'values$'):
            batch_norm_activation_pool(x, _spec(x.shape[axis]), axis,
                                       pool=pool)
    # A window of 256 values is the largest (offsets are bytes).
    y = batch_norm_activation_pool(x, _spec(3), pool=(16, 16))
    assert y.shape == (2, 3, 1, 18)


def test_the_compiled_loops_stay_inside_their_arrays(tmp_path):
    """Numba does not check indices: a loop over the wrong axis reads
    and writes past a clip's channels unnoticed (the next clip's values
    are written again after). With NUMBA_BOUNDSCHECK the kernels' tests
    fail on it instead."""
    env = dict(os.environ, NUMBA_BOUNDSCHECK='1',
               NUMBA_CACHE_DIR=str(tmp_path / 'numba'),
               PYTHONPATH=str(ROOT) + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    run = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider',
         str(ROOT / 'tests' / 'functions' / 'test_training_kernels.py'),
         '-k', 'batch_norm_activation_pool_equals and 1.2'],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert ' passed' in run.stdout


@pytest.mark.parametrize('per_clip', [False, True])
@pytest.mark.parametrize('needs', ['x', 'gamma', 'beta', 'gamma beta'])
def test_only_the_gradients_asked_for(per_clip, needs):
    """Two clips (grouped statistics per clip index the clips), a 2x2
    window (the CRNN's), and each input alone needing a gradient: the
    others get none, the asked ones Chainer's."""
    preset = keras_preset('1.2')
    rng = np.random.RandomState(5)
    shape = (2, 3, 6, 8)
    x0 = distinct(rng, shape)
    gamma0 = rng.uniform(0.5, 2, 3) * [1, -1, 1]
    beta0 = rng.normal(size=3)
    gy = rng.normal(size=(2, 3, 3, 4))
    updates = []

    def fused(x, gamma, beta):
        spec = BatchNormSpec(gamma, beta,
                             lambda var: divisor_of_variance(preset, var),
                             per_clip, lambda *a: updates.append(a))
        return batch_norm_activation_pool(x, spec, 1, 'elu', (2, 2))

    def graph(x, gamma, beta):
        h = F.elu(keras_bn_graph(x, gamma, beta, preset, 1, per_clip))
        return F.max_pooling_nd(h, (2, 2), (2, 2), cover_all=False)

    names = ('x', 'gamma', 'beta')
    assert_same_gradients(fused, graph, (x0, gamma0, beta0),
                          [names.index(n) for n in needs.split()], gy,
                          rtol=1e-8, atol=1e-10)
    # Running averages in the input's dtype, over each clip or both.
    [(mean, var, count)] = updates
    assert mean.dtype == var.dtype == np.float64
    assert mean.shape == var.shape == ((6,) if per_clip else (3,))
    assert count == (48 if per_clip else 96)


def test_double_backprop_is_refused_by_name():
    x = chainer.Variable(np.random.RandomState(6).normal(size=(2, 2, 4)))
    y = batch_norm_activation_pool(x, _spec(2), activation='relu')
    with pytest.raises(NotImplementedError,
                       match='^BatchNormActivationPool: double'):
        chainer.grad([F.sum(y)], [x], enable_double_backprop=True)


@pytest.mark.parametrize('axis', [1, 2])
def test_running_averages_come_in_the_inputs_dtype(axis):
    updates = []
    x = np.random.RandomState(7).normal(size=(2, 3, 4)).astype(np.float32)
    spec = _spec(x.shape[axis])._replace(
        gamma=np.ones(x.shape[axis], np.float32),
        beta=np.zeros(x.shape[axis], np.float32),
        update=lambda *a: updates.append(a))
    batch_norm_activation_pool(x, spec, axis)
    [(mean, var, count)] = updates
    assert mean.dtype == var.dtype == np.float32
    assert mean.shape == (x.shape[axis],) and count == x.size // len(mean)
