"""The kernels' GEMM: every layout, and SciPy's OpenBLAS called through
ctypes (which releases the GIL), not through scipy.linalg.blas (which
holds it and made the clip-parallel kernels multiply one clip at a time)."""
import itertools

import numpy as np
import pytest

from chainer_tagger.functions import gemm


def _layout(m, kind):
    if kind == 'C':
        return np.ascontiguousarray(m)
    if kind == 'F':
        return np.asfortranarray(m)
    wide = np.zeros((m.shape[0], 2 * m.shape[1]), m.dtype)
    wide[:, ::2] = m
    return wide[:, ::2]  # neither C- nor F-contiguous


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_matmul_equals_numpy_in_every_layout(dtype):
    rng = np.random.RandomState(0)
    a0 = rng.normal(size=(37, 19)).astype(dtype)
    b0 = rng.normal(size=(19, 23)).astype(dtype)
    want = a0.astype(np.float64) @ b0.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for ka, kb in itertools.product('CFS', repeat=2):
        a, b = _layout(a0, ka), _layout(b0, kb)
        np.testing.assert_allclose(gemm.matmul(a, b), want, rtol=tol,
                                   atol=tol)
        out = np.ones((37, 23), dtype)
        assert gemm.matmul(a, b, out=out, accumulate=True) is out
        np.testing.assert_allclose(out, want + 1, rtol=tol, atol=tol)
        out_f = np.asfortranarray(np.ones((37, 23), dtype))
        gemm.matmul(a, b, out=out_f)
        np.testing.assert_allclose(out_f, want, rtol=tol, atol=tol)
    empty = gemm.matmul(np.zeros((0, 4), dtype), np.zeros((4, 3), dtype))
    assert empty.shape == (0, 3)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_matmul_columns_reads_a_slice_in_place(dtype):
    """``a @ source[:, start:start + n]`` (and ``+=``) without copying
    the slice; a slice past the source's end is refused, not read."""
    rng = np.random.RandomState(1)
    a = rng.normal(size=(7, 5)).astype(dtype)
    source = rng.normal(size=(5, 40)).astype(dtype)
    want = a.astype(np.float64) @ source[:, 11:30].astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    out = np.empty((7, 19), dtype)
    assert gemm.matmul_columns(a, source, 11, 19, out) is out
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    gemm.matmul_columns(np.asfortranarray(a), source, 11, 19, out,
                        accumulate=True)
    np.testing.assert_allclose(out, 2 * want, rtol=tol, atol=tol)
    with pytest.raises(ValueError):
        gemm.matmul_columns(a, source, 30, 11, np.empty((7, 11), dtype))
    with pytest.raises(ValueError):
        gemm.matmul_columns(a, source, 0, 19, np.empty((7, 18), dtype))


def test_the_gil_free_cblas_is_used(monkeypatch):
    assert set(gemm._CBLAS) == {np.dtype(np.float32), np.dtype(np.float64)}

    def holds_the_gil(*args, **kwargs):
        raise AssertionError('scipy.linalg.blas called')
    monkeypatch.setitem(gemm._GEMM, np.dtype(np.float32), holds_the_gil)
    a = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(gemm.matmul(a, a.T), np.full((3, 3), 4))
