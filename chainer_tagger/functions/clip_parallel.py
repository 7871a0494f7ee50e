"""Running the clips of a batch side by side on the CPU cores."""
import concurrent.futures
import os

import threadpoolctl

_POOL = None


def for_each_clip(function, n):
    """Run ``function(i)`` for ``i`` in ``range(n)``, one clip per core.

    The copies, pooling and activations between the GEMMs of the inference
    fast paths are single-threaded, so clips run side by side on a thread
    pool (NumPy releases the GIL) with single-threaded BLAS, which keeps
    every core busy all the time.
    """
    global _POOL
    workers = os.cpu_count() or 1
    if n < 2 or workers < 2:
        for i in range(n):
            function(i)
        return
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(workers)
    with threadpoolctl.threadpool_limits(1, user_api='blas'):
        for _ in _POOL.map(function, range(n)):
            pass
