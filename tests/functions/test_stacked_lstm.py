"""The batched LSTM equals Chainer's NStepLSTM on equal-length sequences."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.functions.stacked_lstm import stacked_lstm


@pytest.mark.parametrize('layers,dropout', [(1, 0.0), (2, 0.0), (2, 0.3)])
def test_equals_n_step_lstm_with_gradients(layers, dropout, monkeypatch):
    # Dropout as a fixed scaling (1 - ratio) on both sides, so that where each applies
    # it (between layers, not on the first layer's input) is compared.
    import chainer.functions.noise.dropout as dropout_module

    def halve(x, ratio=0.5, **kwargs):
        return x * np.float32(1 - ratio)
    monkeypatch.setattr(dropout_module, 'dropout', halve)
    monkeypatch.setattr(F, 'dropout', halve)
    rng = np.random.RandomState(layers)
    link = L.NStepLSTM(layers, 5, 4, dropout)
    for p in link.params():  # non-zero biases, so that their layout counts
        p.array[...] = rng.uniform(-0.5, 0.5, p.shape)
    x = rng.randn(3, 6, 5).astype(np.float32)

    def ours():
        xv = chainer.Variable(x.copy())
        y = stacked_lstm(xv, link.ws, link.bs, dropout)
        return y, xv

    def chainers():
        xv = chainer.Variable(x.copy())
        _, _, ys = link(None, None, list(F.separate(xv, axis=0)))
        return F.stack(ys), xv

    grads = []
    for run in (ours, chainers):
        link.cleargrads()
        y, xv = run()
        F.sum(y * np.arange(y.size, dtype=np.float32).reshape(y.shape)
              / y.size).backward()
        grads.append((y.array, xv.grad, link.ws[0][0].grad.copy(),
                      link.bs[-1][7].grad.copy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_inference_is_deterministic_with_dropout_setting():
    link = L.NStepLSTM(2, 3, 2, 0.5)
    x = np.ones((2, 4, 3), np.float32)
    with chainer.using_config('train', False):
        a = stacked_lstm(x, link.ws, link.bs, 0.5).array
        b = stacked_lstm(x, link.ws, link.bs, 0.5).array
    np.testing.assert_array_equal(a, b)


def test_every_weight_gets_a_contiguous_gradient_of_its_own():
    """ChainerMN averages a gradient in place only when it is contiguous
    (a distributed music2vec step left the LSTM's gradients un-averaged
    when they were strided views), and an in-place gradient hook
    (weight decay) must not touch two parameters through one array."""
    link = L.NStepLSTM(2, 5, 4, 0.0)
    x = np.random.RandomState(0).randn(3, 6, 5).astype(np.float32)
    link.cleargrads()
    F.sum(stacked_lstm(x, link.ws, link.bs)).backward()
    grads = [p.grad for p in link.params()]
    assert all(g is not None and g.flags.c_contiguous for g in grads)
    assert len({id(g) for g in grads}) == len(grads)
    bases = [g if g.base is None else g.base for g in grads]
    for i, g in enumerate(grads):  # no two share memory
        for h in grads[i + 1:]:
            assert not np.shares_memory(g, h)
