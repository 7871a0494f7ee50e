"""Matrix products of the CPU kernels, through SciPy's BLAS.

NumPy < 2 wheels bundle OpenBLAS 0.3.23, which does not recognise CPUs
newer than it (Intel's Emerald Rapids, for one) and then falls back to its
SSE3 'Prescott' kernels: a float32 GEMM runs 5-6x slower than the CPU
can (22 against 130 GFLOP/s per core measured on such a machine).  SciPy
bundles its own, newer OpenBLAS, so the kernels' GEMMs go through it; on a
CPU that both know, the two are equally fast.

They call its CBLAS ``sgemm``/``dgemm`` through ``ctypes``, which releases
the GIL during the call: ``scipy.linalg.blas``'s wrappers hold it, so the
clips that the kernels run side by side, one per core
(:func:`~chainer_tagger.functions.for_each_clip`), multiplied one after
the other (two GEMMs on two threads took 2.5x one GEMM).  Where that
library is not found (SciPy built against another BLAS), the wrappers are
used.
"""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import os

import numpy as np
from scipy.linalg import blas

from chainer_tagger.cblas import GEMM, NO_TRANS, ROW_MAJOR, TRANS

from chainer_tagger.functions.clip_parallel import for_each_clip

_GEMM = {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}


def _fortran_operand(m):
    """``(array, trans)`` with ``op(array) == m.T`` and ``array``
    Fortran-contiguous, copying only when neither ``m`` nor ``m.T`` is
    contiguous."""
    if m.flags.c_contiguous:
        return m.T, False
    if m.flags.f_contiguous:
        return m, True
    return np.ascontiguousarray(m).T, False


_ROW_MAJOR, _NO_TRANS, _TRANS = ROW_MAJOR, NO_TRANS, TRANS
_CBLAS = GEMM


def _row_major_operand(m):
    """``(array, trans, leading dimension)`` of ``m`` for row-major CBLAS,
    copying only when neither ``m`` nor ``m.T`` is contiguous."""
    if m.flags.c_contiguous:
        return m, _NO_TRANS, max(1, m.shape[1])
    if m.flags.f_contiguous:
        return m, _TRANS, max(1, m.shape[0])
    m = np.ascontiguousarray(m)
    return m, _NO_TRANS, max(1, m.shape[1])


def _cblas_matmul(gemm, a, b, out, accumulate):
    (m, k), n = a.shape, b.shape[1]
    if out is None or not out.flags.c_contiguous:
        target, beta = np.empty((m, n), a.dtype), 0.0
    else:
        target, beta = out, 1.0 if accumulate else 0.0
    if m and n:
        a, trans_a, lda = _row_major_operand(a)
        b, trans_b, ldb = _row_major_operand(b)
        gemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda,
             b.ctypes.data, ldb, beta, target.ctypes.data, max(1, n))
    if target is out:
        return out
    return _store(target, out, accumulate)


def matmul(a, b, out=None, accumulate=False):
    """``a @ b`` for 2-D float32 or float64 arrays (BLAS GEMM).

    With ``out`` (C-contiguous) the product is written there, or added to
    it with ``accumulate=True``; returns the product.  Operands whose
    shapes do not multiply (or an ``out`` of another shape) raise a
    ``ValueError`` like ``a @ b``: BLAS would read and write past them.
    """
    if a.ndim == b.ndim == 2:
        want = (a.shape[0], b.shape[1])
        if a.shape[1] != b.shape[0] or (out is not None and
                                        out.shape != want):
            raise ValueError(
                'matmul: shapes {} and {} do not multiply into {}'.format(
                    a.shape, b.shape, want if out is None else out.shape))
    cblas = _CBLAS.get(a.dtype)
    if cblas is not None and b.dtype == a.dtype and a.ndim == b.ndim == 2 \
            and (out is None or out.dtype == a.dtype):
        return _cblas_matmul(cblas, a, b, out, accumulate)
    gemm = _GEMM.get(a.dtype)
    if gemm is None or b.dtype != a.dtype or 0 in a.shape + b.shape or (
            out is not None and out.dtype != a.dtype):
        # The wrappers would write into a converted copy of ``out``, and
        # refuse empty operands.
        return _store(a @ b, out, accumulate)
    # BLAS is column-major: (a b)^T = b^T a^T is computed in Fortran order,
    # which is a b in C order, with no copies.
    first, trans_first = _fortran_operand(b)
    second, trans_second = _fortran_operand(a)
    if out is not None and out.flags.c_contiguous:
        gemm(1.0, first, second, beta=1.0 if accumulate else 0.0, c=out.T,
             trans_a=trans_first, trans_b=trans_second, overwrite_c=True)
        return out
    return _store(gemm(1.0, first, second, trans_a=trans_first,
                       trans_b=trans_second).T, out, accumulate)


def matmul_columns(a, source, start, columns, out, accumulate=False):
    """``out = a @ source[:, start:start + columns]`` (or ``+=`` with
    ``accumulate``), without copying the slice.

    A slice of columns of a C-contiguous matrix is a row-major operand
    with the matrix's row length as its leading dimension, which CBLAS
    takes as it is: the 3x3 convolutions multiply the kernel's nine
    shifts with nine such slices of one padded clip instead of copying
    them into an im2col matrix first.  ``out`` must be C-contiguous
    ``(len(a), columns)``; without SciPy's CBLAS the slice is copied.
    """
    m, k = a.shape
    if not (source.flags.c_contiguous and out.flags.c_contiguous and
            a.dtype == source.dtype == out.dtype and
            source.shape[0] == k and out.shape == (m, columns) and
            0 <= start and start + columns <= source.shape[1]):
        raise ValueError(
            'matmul_columns: {} {} times columns [{}, {}) of {} {} into '
            '{} {}'.format(a.shape, a.dtype, start, start + columns,
                           source.shape, source.dtype, out.shape, out.dtype))
    cblas = _CBLAS.get(a.dtype)
    if cblas is None or not m or not columns:
        return matmul(a, source[:, start:start + columns], out=out,
                      accumulate=accumulate)
    a, trans_a, lda = _row_major_operand(a)
    cblas(_ROW_MAJOR, trans_a, _NO_TRANS, m, columns, k, 1.0, a.ctypes.data,
          lda, source[:, start:].ctypes.data, max(1, source.shape[1]),
          1.0 if accumulate else 0.0, out.ctypes.data, max(1, columns))
    return out


def _store(product, out, accumulate):
    """``product``, or ``out`` with it written or added there."""
    if out is None:
        return product
    if accumulate:
        out += product
    else:
        out[...] = product
    return out


def parallel_matmul(a, b):
    """``a @ b`` on all cores: blocks of rows of ``a`` (or of columns of
    ``b``, whichever is longer), one per core, each on single-threaded
    BLAS.

    OpenBLAS's own threads busy-wait for a while after each call; on a
    small machine they take the cores from the kernels that run clips
    side by side (:func:`~chainer_tagger.functions.for_each_clip`), which
    doubled the CPU time of SoundNet's backward pass.
    """
    m, n = a.shape[0], b.shape[1]
    out = np.empty((m, n), np.result_type(a, b))
    parts = max(1, min(os.cpu_count() or 1, max(m, n) // 64))
    bounds = np.linspace(0, max(m, n), parts + 1).astype(int)

    def part(i):
        lo, hi = bounds[i], bounds[i + 1]
        if m >= n:
            matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            out[:, lo:hi] = matmul(a, b[:, lo:hi])

    for_each_clip(part, parts)
    return out
