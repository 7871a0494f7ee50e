"""The fused BN, activation and pooling: what it refuses, and its compiled
loops under Numba's bounds checking (its numbers and gradients are
checked against Chainer's graph in test_training_kernels.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from chainer_tagger.functions import BatchNormSpec, batch_norm_activation_pool

from conftest import ROOT


def _spec(size):
    return BatchNormSpec(np.ones(size), np.zeros(size),
                         lambda var: (np.sqrt(var + 1e-3),
                                      0.5 / np.sqrt(var + 1e-3)),
                         False, None)


def test_what_it_refuses():
    x = np.ones((2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"^activation must be one of "
                       r"\(None, 'relu', 'elu'\), got 'tanh'$"):
        batch_norm_activation_pool(x, _spec(3), activation='tanh')
    for pool, axis in [((2, 2, 2), 1), ((2, 2), 2), ((16, 17), 1)]:
        with pytest.raises(ValueError, match='^pooling needs axis 1'):
            batch_norm_activation_pool(x, _spec(x.shape[axis]), axis,
                                       pool=pool)
    # A window of 256 values is the largest (offsets are bytes).
    y = batch_norm_activation_pool(x, _spec(3), pool=(16, 16))
    assert y.shape == (2, 3, 1, 1)


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
