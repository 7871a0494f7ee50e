"""SciPy's OpenBLAS through ctypes, Chainer-free: the product on the
calling thread alone that the resampler uses beside the model."""
import threading

import numpy as np

from chainer_tagger import cblas


def test_matmul_one_thread_equals_numpy_and_keeps_others_threads():
    """The product (and NumPy's for what it does not take); the thread
    count it sets is the calling thread's own and is restored after."""
    rng = np.random.RandomState(0)
    a = rng.normal(size=(300, 757)).astype(np.float32)
    b = rng.normal(size=(757, 40)).astype(np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(cblas.matmul_one_thread(a, b), want,
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(cblas.matmul_one_thread(a[:, ::2], b[::2]),
                               a[:, ::2] @ b[::2], rtol=1e-5, atol=1e-4)
    assert cblas.matmul_one_thread(a[:0], b).shape == (0, 40)
    np.testing.assert_array_equal(
        cblas.matmul_one_thread(a[:, :0], b[:0]), np.zeros((300, 40)))
    assert cblas._SET_THREADS_LOCAL is not None  # OpenBLAS >= 0.3.27
    local = cblas._SET_THREADS_LOCAL

    def current():
        value = local(1)
        local(value)
        return value

    seen = []

    def fresh_thread():
        seen.append(current())

    for _ in range(2):
        before = current()
        cblas.matmul_one_thread(a, b)
        assert current() == before
        thread = threading.Thread(target=fresh_thread)
        thread.start()
        thread.join()
    assert seen[0] == seen[1]  # other threads' count untouched
