"""The fused Adam makes Chainer's Adam updates."""
import numpy as np
import pytest

import chainer
import chainer.links as L

from chainer_tagger.training.optimizers import FusedAdam


def _run(optimizer, steps=5, **hyper):
    rng = np.random.RandomState(0)
    # Weights of 91 and 6500 elements, biases of 13, 500 and 3: both the
    # serial and the parallel kernel (PARALLEL_MIN_SIZE).
    link = chainer.Sequential(L.Linear(7, 13), L.Linear(13, 500),
                              L.Linear(500, 3))
    for p in link.params():
        p.array[...] = rng.normal(size=p.shape)
    opt = optimizer(**hyper)
    opt.setup(link)
    for step in range(steps):
        link.cleargrads()
        for p in link.params():
            p.grad = rng.normal(scale=10.0 ** (step - 2), size=p.shape
                                ).astype(np.float32)
        opt.update()
    return [p.array.copy() for p in link.params()], opt


@pytest.mark.parametrize('hyper', [
    {}, {'alpha': 3e-4}, {'weight_decay_rate': 0.01, 'eta': 0.5},
    {'amsgrad': True}])
def test_fused_adam_makes_chainers_updates(hyper):
    want, _ = _run(chainer.optimizers.Adam, **hyper)
    got, opt = _run(FusedAdam, **hyper)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    assert opt.t == 5


def test_small_and_large_parameters_take_their_kernels(monkeypatch):
    from chainer_tagger.functions import adam_update as module
    used = []
    for name in ('_adam_update', '_adam_update_serial'):
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, k=kernel, n=name: (
            used.append((n, a[0].size)), k(*a))[1])
    _run(FusedAdam, steps=1)
    assert sorted(used) == [('_adam_update', 6500),
                            ('_adam_update_serial', 3),
                            ('_adam_update_serial', 13),
                            ('_adam_update_serial', 91),
                            ('_adam_update_serial', 500),
                            ('_adam_update_serial', 1500)]


def test_the_fused_kernel_updates_every_float32_parameter(monkeypatch):
    from chainer_tagger.training import optimizers
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)
    original = optimizers.adam_update
    monkeypatch.setattr(optimizers, 'adam_update', counting)
    _, opt = _run(FusedAdam, steps=2)
    assert sorted(calls) == sorted(2 * [p.shape for p in opt.target.params()])
