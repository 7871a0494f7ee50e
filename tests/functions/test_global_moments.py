"""Batch moments over several processes, with a fake communicator that
records what it is handed (no MPI needed)."""
import importlib

import numpy as np
import pytest

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


# -- The NCCL path (GPUs, ``pure_nccl``), with ChainerMN's own code --------

class _Stream:
    ptr = 1234

    def __init__(self):
        self.synchronized = 0

    def synchronize(self):
        self.synchronized += 1


class _ReachedNccl(Exception):
    """Raised where ChainerMN would start NCCL (no GPU here)."""


def _fake_pure_nccl():
    """ChainerMN 7.8.1's real ``PureNcclCommunicator`` methods on two
    fake processes, up to where NCCL would start."""
    from chainermn.communicators.pure_nccl_communicator import \
        PureNcclCommunicator

    class FakePureNccl(PureNcclCommunicator):
        rank, size = 0, 2

        def __init__(self):  # no MPI, no NCCL
            self.gathered = []

        def gather_obj(self, obj, root=0):  # the debug shape check
            self.gathered.append(obj)
            return [obj, (1, obj[1])]

        def _init_comms(self):
            raise _ReachedNccl
    return FakePureNccl()


class _HostBuffer:
    """``_memory_utility.DeviceMemory`` on the host."""

    def assign(self, size):
        self.memory = np.zeros(size, np.uint8)

    def array(self, n, dtype):
        return self.memory.view(dtype)[:n]


def test_chainermn_private_api_is_the_one_read():
    """``_nccl_sum`` and ``stream_for_nccl`` call a private ChainerMN
    method: an upgrade of Chainer must fail here, not on a GPU cluster."""
    import inspect
    from chainermn.communicators.pure_nccl_communicator import \
        PureNcclCommunicator
    from chainer_tagger.functions.global_moments import \
        CHAINERMN_PRIVATE_API_OF
    assert chainer.__version__ == CHAINERMN_PRIVATE_API_OF
    signature = inspect.signature(PureNcclCommunicator._multi_node_mean_nccl)
    assert list(signature.parameters) == ['self', 'sendbuf', 'recvbuf',
                                          'n_elems', 'dtype', 'stream']
    assert signature.parameters['stream'].default is None


def test_nccl_sum_passes_the_current_stream(monkeypatch):
    """Under ``chainer.set_debug(True)`` ChainerMN synchronizes the stream
    it is given before the allreduce: without one it would call
    ``None.synchronize()``."""
    from chainermn.communicators import _memory_utility
    module = importlib.import_module(
        'chainer_tagger.functions.global_moments')
    stream = _Stream()
    monkeypatch.setattr(module, '_current_stream', lambda: stream)
    monkeypatch.setattr(_memory_utility, 'DeviceMemory', _HostBuffer)
    comm = _fake_pure_nccl()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with chainer.using_config('debug', True):
        assert chainer.is_debug()
        with pytest.raises(_ReachedNccl):
            module._nccl_sum(comm, x)
    assert stream.synchronized == 1
    assert comm.gathered == [(0, (((6,), np.float32), (6,), np.float32))]

    class Recording:
        size = 2

        def _multi_node_mean_nccl(self, *args, **kwargs):
            self.call = args, kwargs
            send, receive, n, dtype = args
            receive.array(n, dtype)[...] = send.array(n, dtype)  # a mean
    recording = Recording()
    np.testing.assert_array_equal(module._nccl_sum(recording, x), 2 * x)
    (_, _, n, dtype), kwargs = recording.call
    assert (n, dtype, kwargs) == (6, np.float32, {'stream': stream})


def test_stream_for_nccl_fixes_chainermns_own_batch_norm_call():
    """ChainerMN's ``MultiNodeBatchNormalization`` calls
    ``_multi_node_mean_nccl(a, b, n, dtype)`` with no stream."""
    from chainer_tagger.functions.global_moments import stream_for_nccl
    buffer = _HostBuffer()
    buffer.assign(16)
    args = (buffer, buffer, 4, np.dtype(np.float32))
    with chainer.using_config('debug', True):
        with pytest.raises(AttributeError, match="'NoneType' object has no "
                                                 "attribute 'synchronize'"):
            _fake_pure_nccl()._multi_node_mean_nccl(*args)  # ChainerMN's bug
        stream = _Stream()
        comm = stream_for_nccl(_fake_pure_nccl(), lambda: stream)
        with pytest.raises(_ReachedNccl):
            comm._multi_node_mean_nccl(*args)
        assert stream.synchronized == 1
        given = _Stream()
        with pytest.raises(_ReachedNccl):
            comm._multi_node_mean_nccl(*args, stream=given)
        assert (given.synchronized, stream.synchronized) == (1, 1)


def test_gpu_runs_use_the_stream_fix(monkeypatch):
    import chainermn
    from chainer_tagger.training import distributed
    made = []

    def create(name):
        made.append(_fake_pure_nccl() if name == 'pure_nccl' else name)
        return made[-1]
    monkeypatch.setattr(chainermn, 'create_communicator', create)
    assert distributed.create_communicator(None) == 'naive'
    comm = distributed.create_communicator(0)
    assert 'multi_node_mean_nccl' in vars(comm)['_multi_node_mean_nccl'] \
        .__qualname__  # shadowed on the instance
