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


def test_adam_update_defaults_are_plain_adam():
    # eta 1 and no weight decay unless asked (mutation testing: defaults
    # no caller relied on).
    from chainer_tagger.functions.adam_update import adam_update
    rng = np.random.RandomState(1)
    param, grad = (rng.normal(size=50).astype(np.float32) for _ in range(2))
    m, v = np.zeros(50, np.float32), np.zeros(50, np.float32)
    want = param - 1e-3 * (0.1 * grad) / (np.sqrt(0.001 * grad * grad) + 1e-8)
    adam_update(param, grad, m, v, 0.9, 0.999, 1e-3, 1e-8)
    np.testing.assert_allclose(param, want, rtol=1e-5)


@pytest.mark.parametrize('bad', [
    lambda a: a.astype(np.float64), lambda a: a[::2], lambda a: a[:-1],
    lambda a: list(a)])
def test_adam_update_refuses_what_its_kernel_cannot_take(bad):
    from chainer_tagger.functions.adam_update import adam_update
    arrays = [np.ones(8, np.float32) for _ in range(4)]
    arrays[1] = bad(arrays[1])
    with pytest.raises(TypeError, match='^adam_update takes C-contiguous '
                       'float32 arrays of one shape$'):
        adam_update(*arrays, 0.9, 0.999, 1e-3, 1e-8)


def test_the_parallel_kernel_starts_at_its_threshold(monkeypatch):
    from chainer_tagger.functions import adam_update as module
    used = []
    for name in ('_adam_update', '_adam_update_serial'):
        monkeypatch.setattr(module, name, lambda *a, n=name: used.append(n))
    for size in (module.PARALLEL_MIN_SIZE - 1, module.PARALLEL_MIN_SIZE):
        arrays = [np.zeros(size, np.float32) for _ in range(4)]
        module.adam_update(*arrays, 0.9, 0.999, 1e-3, 1e-8)
    assert used == ['_adam_update_serial', '_adam_update']
