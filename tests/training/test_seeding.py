"""Seeding a run: CuPy only on a GPU run, on the run's own device, and
cuDNN's dropout through CHAINER_SEED (checked with a fake GPU device: no
GPU here)."""
import contextlib
import os
import sys
import types

import numpy as np

import chainer

from chainer_tagger.training import seed_everything


class FakeGpu(chainer.backend.Device):
    """A device whose ``xp`` records which device was current when its
    generator was seeded."""

    def __init__(self, device_id, current):
        super().__init__()
        self.device_id, self.current = device_id, current
        self._xp = types.SimpleNamespace(random=types.SimpleNamespace(
            seed=lambda s: current.append(('seed', s, current[-1]))))

    @property
    def xp(self):
        return self._xp

    @property
    def name(self):
        return '@fake:{}'.format(self.device_id)

    def create_context(self):
        @contextlib.contextmanager
        def context():
            self.current.append(self.device_id)
            yield
            self.current.append('left')
        return context()


def test_a_cpu_run_never_touches_cupy(monkeypatch):
    touched = []
    fake_cupy = types.ModuleType('cupy')
    fake_cupy.random = types.SimpleNamespace(
        seed=lambda s: touched.append(s))
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy)
    monkeypatch.setattr(chainer.backends.cuda, 'available', True)
    monkeypatch.delenv('CHAINER_SEED', raising=False)
    seed_everything(5, chainer.get_device('@numpy'))
    seed_everything(5)
    assert touched == []
    assert 'CHAINER_SEED' not in os.environ
    a = np.random.rand()
    seed_everything(5)
    assert np.random.rand() == a


def test_a_gpu_run_seeds_its_own_device_and_cudnn_dropout(monkeypatch):
    monkeypatch.delenv('CHAINER_SEED', raising=False)
    current = [None]
    seed_everything(7, FakeGpu(1, current))
    assert ('seed', 7, 1) in current  # seeded while device 1 was current
    assert os.environ['CHAINER_SEED'] == '7'
