"""Found by mutation testing: the GEMM behind the CPU kernels refuses
operands whose shapes do not multiply, as ``a @ b`` does, instead of
handing BLAS pointers to read and write past the arrays (a mis-shaped
folded kernel crashed the process); both its routes, every layout, an
``out`` written or added to, one-row and one-column operands, both ends of
a column slice and the parallel split (the first run left 62 of 123
mutants alive)."""
import re

import numpy as np
import pytest

from chainer_tagger.functions import gemm
from chainer_tagger.functions.gemm import matmul


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_mismatched_operands_are_refused(dtype):
    a = np.ones((2, 3), dtype)
    with pytest.raises(ValueError,
                       match=r'^matmul: shapes \(2, 3\) and \(4, 5\) do '
                       r'not multiply into \(2, 5\)$'):
        matmul(a, np.ones((4, 5), dtype))
    with pytest.raises(ValueError, match=r'\(2, 3\) and \(3, 5\) do not '
                       r'multiply into \(3, 5\)'):
        matmul(a, np.ones((3, 5), dtype), out=np.zeros((3, 5), dtype))
    np.testing.assert_array_equal(matmul(a, np.ones((3, 5), dtype)),
                                  np.full((2, 5), 3, dtype))


def _layouts(m):
    """``m`` C-contiguous, Fortran-contiguous and neither."""
    wide = np.zeros((m.shape[0], 2 * m.shape[1]), m.dtype)
    wide[:, ::2] = m
    return [np.ascontiguousarray(m), np.asfortranarray(m), wide[:, ::2]]


@pytest.fixture(params=['cblas', 'scipy wrappers'])
def path(request, monkeypatch):
    """Both routes of :func:`matmul`: SciPy's OpenBLAS through ctypes, and
    ``scipy.linalg.blas`` where that library is not found."""
    if request.param == 'scipy wrappers':
        monkeypatch.setattr(gemm, '_CBLAS', {})
    return request.param


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('shape', [(5, 3, 4), (4, 1, 1), (1, 1, 3),
                                   (1, 6, 1)])
def test_every_layout_and_out_on_both_routes(path, dtype, shape):
    """Written over a C- or F-ordered ``out`` full of other values, or
    added to it, for every layout of each operand; operands and products
    with one row or column too (BLAS's leading dimensions are then 1)."""
    m, k, n = shape
    rng = np.random.RandomState(2)
    a0, b0 = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    want = a0 @ b0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a in _layouts(a0.astype(dtype)):
        for b in _layouts(b0.astype(dtype)):
            np.testing.assert_allclose(matmul(a, b), want, rtol=tol,
                                       atol=tol)
            for order in 'CF':
                out = np.full((m, n), 7.0, dtype, order=order)
                assert matmul(a, b, out=out) is out
                np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
                assert matmul(a, b, out=out, accumulate=True) is out
                np.testing.assert_allclose(out, 2 * want, rtol=tol,
                                           atol=tol)


def test_mixed_dtypes_go_through_numpy():
    """Operands or ``out`` of another dtype than ``a``: NumPy's product,
    stored in ``out`` (converted), never BLAS on mismatched buffers."""
    rng = np.random.RandomState(3)
    a, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 2))
    want = a.astype(np.float64) @ b
    got = matmul(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-6)
    out = np.ones((4, 2), np.float64)
    matmul(a, b.astype(np.float32), out=out, accumulate=True)
    np.testing.assert_allclose(out, want + 1, rtol=1e-5)
    ints = matmul(np.arange(6).reshape(2, 3), np.ones((3, 2), int))
    np.testing.assert_array_equal(ints, [[3, 3], [12, 12]])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_matmul_columns_at_both_ends_and_empty(path, dtype):
    """The first and the last columns of the source may be read; one past
    them, or a negative start, is refused with a message that says
    which; zero rows or columns give empty products."""
    rng = np.random.RandomState(4)
    a = rng.normal(size=(3, 4)).astype(dtype)
    source = rng.normal(size=(4, 9)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for start, columns in [(0, 9), (0, 1), (8, 1), (2, 7)]:
        out = np.full((3, columns), 5.0, dtype)
        gemm.matmul_columns(a, source, start, columns, out)
        np.testing.assert_allclose(
            out, a @ source[:, start:start + columns], rtol=tol, atol=tol)
    with pytest.raises(ValueError, match=re.escape(
            'matmul_columns: (3, 4) {} times columns [3, 10) of (4, 9) '
            '{} into (3, 7) {}'.format(*[np.dtype(dtype)] * 3))):
        gemm.matmul_columns(a, source, 3, 7, np.empty((3, 7), dtype))
    with pytest.raises(ValueError, match=r'columns \[-1, 1\)'):
        gemm.matmul_columns(a, source, -1, 2, np.empty((3, 2), dtype))
    # A one-column source: its rows are one float apart.
    column = source[:, :1].copy()
    out = np.empty((3, 1), dtype)
    gemm.matmul_columns(a, column, 0, 1, out)
    np.testing.assert_allclose(out, a @ column, rtol=tol, atol=tol)
    empty = np.empty((3, 0), dtype)
    assert gemm.matmul_columns(a, source, 4, 0, empty) is empty
    rows = np.empty((0, 2), dtype)
    assert gemm.matmul_columns(a[:0], source, 4, 2, rows).shape == (0, 2)


@pytest.mark.parametrize('shape', [(300, 5, 7), (7, 5, 300), (130, 3, 130),
                                   (10, 4, 20), (129, 2, 1), (1, 2, 200),
                                   (100, 3, 5)])
def test_parallel_matmul_covers_every_row_and_column(shape, monkeypatch):
    """Split by rows (``m >= n``) or columns into one part per core, each
    of at least 64 (fewer parts for small products), that need not divide
    the length and together cover it."""
    m, k, n = shape
    rng = np.random.RandomState(5)
    a = rng.normal(size=(m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    parts, real = [], gemm.matmul

    def spy(x, y, out=None, accumulate=False):
        parts.append(len(x) if m >= n else y.shape[1])
        return real(x, y, out=out, accumulate=accumulate)

    monkeypatch.setattr(gemm, 'matmul', spy)
    monkeypatch.setattr(gemm.os, 'cpu_count', lambda: 4)
    got = gemm.parallel_matmul(a, b)
    assert got.shape == (m, n) and got.dtype == np.float32
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-5,
                               atol=1e-5)
    length = max(m, n)
    assert sum(parts) == length
    assert len(parts) == max(1, min(4, length // 64))
    assert len(parts) == 1 or min(parts) >= 64
