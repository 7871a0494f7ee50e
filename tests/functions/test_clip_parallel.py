"""Clips side by side on the cores: each once, two at a time where there
are two cores, with single-threaded BLAS, and in a forked child too."""
import threading
import time

import pytest
import threadpoolctl

from chainer_tagger.functions import clip_parallel
from chainer_tagger.functions.clip_parallel import for_each_clip

from forked import run_forked


@pytest.fixture
def cores(monkeypatch):
    """``cores(n)``: the machine seen with ``n`` CPUs, and a pool made for
    them."""
    def set_cores(n):
        monkeypatch.setattr(clip_parallel.os, 'cpu_count', lambda: n)
        monkeypatch.setattr(clip_parallel, '_POOL', None)
    return set_cores


@pytest.mark.parametrize('n', [0, 1, 2, 5])
@pytest.mark.parametrize('cpus', [1, 2, 4])
def test_every_clip_runs_once(cores, n, cpus):
    cores(cpus)
    done = []
    for_each_clip(done.append, n)
    assert sorted(done) == list(range(n))


def _meet(barrier, threads):
    def function(i):
        threads.add(threading.get_ident())
        barrier.wait()
    return function


@pytest.mark.parametrize('cpus', [2, 4])
def test_two_clips_on_two_cores_run_side_by_side(cores, cpus):
    """Each clip waits for the other: one after the other would never
    meet."""
    cores(cpus)
    threads = set()
    for_each_clip(_meet(threading.Barrier(2, timeout=10), threads), 2)
    assert threading.get_ident() not in threads and len(threads) == 2


@pytest.mark.parametrize('cpus,n', [(1, 3), (4, 1)])
def test_one_core_or_one_clip_runs_here(cores, cpus, n):
    cores(cpus)
    threads = set()
    for_each_clip(lambda i: threads.add(threading.get_ident()), n)
    assert threads == {threading.get_ident()}


def test_blas_runs_one_thread_per_clip(cores):
    """Every core already runs a clip: a BLAS thread pool would take
    cores from the others."""
    cores(2)
    counts = []

    def function(i):
        counts.extend(lib['num_threads'] for lib in
                      threadpoolctl.threadpool_info()
                      if lib['user_api'] == 'blas')
    for_each_clip(function, 2)
    assert counts and set(counts) == {1}


def _clips_in_child():
    done = []
    for_each_clip(done.append, 4)
    return sorted(done)


def test_a_forked_child_makes_its_own_pool(cores):
    """The parent's pool threads do not exist in a forked child: using
    its pool there waited forever."""
    cores(2)
    # The pool exists now, with its two threads ...
    for_each_clip(_meet(threading.Barrier(2, timeout=10), set()), 2)
    for _ in range(100):  # ... both waiting for work
        if clip_parallel._POOL._idle_semaphore._value == 2:
            break
        time.sleep(0.01)
    value, _, _ = run_forked(_clips_in_child, timeout=30)
    assert value == [0, 1, 2, 3]
