"""Batch moments over several processes, with a fake communicator that
records what it is handed (no MPI needed)."""
import numpy as np

import chainer
from chainer import gradient_check

from chainer_tagger.functions import global_moments
from chainer_tagger.functions.global_moments import AllReduceSum


class _FakeMPI:
    """Two processes holding the same arrays: Allreduce doubles."""

    def __init__(self):
        self.received = []

    def Allreduce(self, flag, buffer):
        from mpi4py import MPI
        assert flag is MPI.IN_PLACE
        self.received.append(type(buffer))
        buffer *= 2


class _FakeCommunicator:
    size = 2

    def __init__(self):
        self.mpi_comm = _FakeMPI()


def test_moments_are_those_of_the_concatenated_batch():
    x = np.random.RandomState(0).normal(size=(3, 4, 5)).astype(np.float64)
    comm = _FakeCommunicator()
    mean, centered, var = global_moments(x, (0, 2), comm)
    both = np.concatenate([x, x])  # what the two processes hold together
    np.testing.assert_allclose(mean.array,
                               both.mean(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(var.array,
                               both.var(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(centered.array, x - mean.array)
    # Only host (NumPy) buffers reach MPI.
    assert comm.mpi_comm.received == [np.ndarray, np.ndarray]


def test_allreduce_sum_gradient():
    """d(sum over processes)/dx sums the processes' gradients."""
    rng = np.random.RandomState(1)
    x = rng.normal(size=(2, 3))
    gy = rng.normal(size=(2, 3))
    gradient_check.check_backward(
        lambda v: AllReduceSum(_FakeCommunicator()).apply((v,))[0], x, gy,
        dtype=np.float64)
    y = AllReduceSum(_FakeCommunicator()).apply(
        (chainer.Variable(x),))[0]
    np.testing.assert_allclose(y.array, 2 * x)
