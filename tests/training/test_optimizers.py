"""The fused Adam makes Chainer's Adam updates."""
import numpy as np
import pytest

import chainer
import chainer.links as L

from chainer_tagger.training.optimizers import FusedAdam


def _run(optimizer, steps=5, **hyper):
    rng = np.random.RandomState(0)
    link = chainer.Sequential(L.Linear(7, 13), L.Linear(13, 3))
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
