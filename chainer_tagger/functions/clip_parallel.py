"""Running the clips of a batch side by side on the CPU cores."""
import concurrent.futures
import os

import threadpoolctl

_POOL = None
_CONTROLLER = None


def _forget_pool():
    """In a forked child: the parent's pool threads do not exist there,
    yet the pool would count them as idle and never start its own (every
    batch would wait forever), so the child makes its own pool."""
    global _POOL
    _POOL = None


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_forget_pool)


def for_each_clip(function, n):
    """Run ``function(i)`` for ``i`` in ``range(n)``, one clip per core.

    The copies, pooling and activations between the GEMMs of the inference
    fast paths are single-threaded, so clips run side by side on a thread
    pool (NumPy releases the GIL) with single-threaded BLAS, which keeps
    every core busy all the time.
    """
    global _POOL, _CONTROLLER
    workers = os.cpu_count() or 1
    if n < 2 or workers < 2:
        for i in range(n):
            function(i)
        return
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(workers)
        # Found once: each threadpool_limits() call scans the loaded
        # libraries again (milliseconds, many times per training step).
        _CONTROLLER = threadpoolctl.ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api='blas'):
        for _ in _POOL.map(function, range(n)):
            pass
