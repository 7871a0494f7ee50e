"""A CPU kernel against Chainer's functions: outputs, and the gradients of
the inputs that ask for one (and none for those that do not)."""
import numpy as np

import chainer


def assert_same_gradients(mine, reference, arrays, needs, gy=None,
                          rtol=1e-12, atol=1e-12):
    """Run ``mine`` and ``reference`` on copies of ``arrays`` (None stays
    None), the inputs at the indices in ``needs`` as Variables, the
    others as plain arrays; backpropagate ``gy`` (default: normal values
    of the output's shape) and compare the outputs and the gradients.
    The plain arrays must get no gradient from either."""
    results = []
    for function in (mine, reference):
        inputs = [None if a is None else
                  chainer.Variable(a.copy()) if i in needs else a.copy()
                  for i, a in enumerate(arrays)]
        y = function(*inputs)
        if gy is None:
            gy = np.random.RandomState(0).normal(size=y.shape)
        y.grad = gy.copy()
        y.backward()
        results.append([y.array] + [
            v.grad if isinstance(v, chainer.Variable) else None
            for v in inputs])
    for got, want in zip(*results):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
