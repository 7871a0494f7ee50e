"""SciPy's bundled OpenBLAS called through ``ctypes``: its CBLAS GEMMs and
its per-thread thread count.

The CPU kernels (:mod:`chainer_tagger.functions.gemm`) and the resampler
(:mod:`chainer_tagger.audio.resample`) share it; this module imports no
Chainer, so ``audio/`` can use it.  ``ctypes`` releases the GIL during a
call, which SciPy's own wrappers do not.
"""
import ctypes
import glob
import os

import numpy as np
import scipy

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _load():
    """``({dtype: CBLAS gemm}, openblas_set_num_threads_local or None)``
    of SciPy's bundled OpenBLAS, or ``({}, None)``."""
    folder = os.path.join(os.path.dirname(os.path.dirname(
        scipy.__file__)), 'scipy.libs')
    for path in sorted(glob.glob(os.path.join(folder, '*openblas*.so*'))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        functions = {}
        for dtype, name, scalar in ((np.float32, 'sgemm', ctypes.c_float),
                                    (np.float64, 'dgemm', ctypes.c_double)):
            for prefix in ('scipy_', ''):
                function = getattr(lib, prefix + 'cblas_' + name, None)
                if function is not None:
                    function.restype = None
                    i = ctypes.c_int
                    function.argtypes = [
                        i, i, i, i, i, i, scalar, ctypes.c_void_p, i,
                        ctypes.c_void_p, i, scalar, ctypes.c_void_p, i]
                    functions[np.dtype(dtype)] = function
                    break
        if len(functions) == 2:
            local = getattr(lib, 'openblas_set_num_threads_local', None)
            if local is not None:
                local.restype = ctypes.c_int
                local.argtypes = [ctypes.c_int]
            return functions, local
    return {}, None


#: ``{dtype: CBLAS gemm}`` (float32 and float64), empty where SciPy's
#: OpenBLAS is not found (SciPy built against another BLAS).
GEMM, _SET_THREADS_LOCAL = _load()


def matmul_one_thread(a, b):
    """``a @ b`` for C-contiguous 2-D float32 arrays, computed on the
    calling thread alone.

    For work that runs beside the model (the resampler on the threads that
    prepare inputs): OpenBLAS's own threads would double its CPU time
    (they spin between calls) and take the cores the model's kernels run
    on.  OpenBLAS >= 0.3.27 sets the thread count per calling thread, so
    other threads' BLAS is untouched; without it, or without SciPy's
    OpenBLAS, NumPy's product.
    """
    gemm = GEMM.get(np.dtype(np.float32))
    if (gemm is None or _SET_THREADS_LOCAL is None or
            a.dtype != np.float32 or b.dtype != np.float32 or
            a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or
            not (a.flags.c_contiguous and b.flags.c_contiguous)):
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    out = np.empty((m, n), np.float32)
    if m and n:
        before = _SET_THREADS_LOCAL(1)
        try:
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, a.ctypes.data,
                 max(1, k), b.ctypes.data, max(1, n), 0.0, out.ctypes.data,
                 max(1, n))
        finally:
            _SET_THREADS_LOCAL(before)
    elif not k:
        out[...] = 0
    return out
