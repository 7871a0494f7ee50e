"""Batch moments over the batches of every process (data-parallel BN)."""
import numpy

import chainer
import chainer.functions as F
from chainer import backend

from chainer_tagger.functions.kernel_choice import host_only


def allreduce_sum(comm, array):
    """The elementwise sum of ``array`` over the processes of ChainerMN
    communicator ``comm`` (a new array on ``array``'s device).

    Host arrays go through MPI.  Device (CuPy) arrays go through NCCL when
    the communicator has it (``pure_nccl``), as ChainerMN's own
    multi-node batch normalization does: handing device pointers to MPI
    would need a CUDA-aware MPI, which Debian's Open MPI is not.  Without
    NCCL, a device array is summed through host memory.
    """
    xp = backend.get_array_module(array)
    if xp is numpy:
        return _host_sum(comm, array)
    from chainermn.communicators.pure_nccl_communicator import \
        PureNcclCommunicator
    if isinstance(comm, PureNcclCommunicator):
        return _nccl_sum(comm, array)
    host = chainer.backends.cuda.to_cpu(array)
    comm.mpi_comm.Allreduce(_in_place(), host)
    return chainer.backends.cuda.to_gpu(host, device=array.device)


@host_only
def _host_sum(comm, array):
    out = numpy.array(array, copy=True)
    comm.mpi_comm.Allreduce(_in_place(), out)
    return out


def _in_place():
    from mpi4py import MPI
    return MPI.IN_PLACE


#: The Chainer release whose ChainerMN private method
#: ``PureNcclCommunicator._multi_node_mean_nccl(sendbuf, recvbuf, n_elems,
#: dtype, stream=None)`` :func:`_nccl_sum` and :func:`stream_for_nccl`
#: were written against (``chainer==7.8.1`` in ``setup.cfg``;
#: ``tests/functions/test_global_moments.py`` checks the signature).
#: ChainerMN has no public NCCL allreduce of an array: ``comm.allreduce``
#: hands device pointers to MPI (a CUDA-aware MPI only), and
#: ``multi_node_mean_grad`` averages a model's gradients.
CHAINERMN_PRIVATE_API_OF = '7.8.1'


def _current_stream():
    return chainer.backends.cuda.cupy.cuda.get_current_stream()


def _nccl_sum(comm, array):
    """NCCL allreduce of a CuPy array, through ChainerMN's buffers, on the
    current CUDA stream (the one Chainer computed ``array`` on).

    The stream is passed: ChainerMN's ``_multi_node_mean_nccl`` defaults
    it to the null stream only *after* its debug-mode check, which calls
    ``stream.synchronize()`` (``None.synchronize()`` under
    ``chainer.set_debug(True)`` when no stream is given).
    """
    from chainermn.communicators import _memory_utility
    n = array.size
    send, receive = (_memory_utility.DeviceMemory(),
                     _memory_utility.DeviceMemory())
    send.assign(n * array.dtype.itemsize)
    receive.assign(n * array.dtype.itemsize)
    send.array(n, dtype=array.dtype)[...] = array.ravel()
    comm._multi_node_mean_nccl(send, receive, n, array.dtype,  # a mean
                               stream=_current_stream())
    return receive.array(n, dtype=array.dtype).reshape(array.shape) * \
        comm.size


def stream_for_nccl(comm, current_stream=_current_stream):
    """Make ChainerMN's own NCCL callers pass a stream.

    ChainerMN 7.8.1's ``MultiNodeBatchNormalization`` (which replaces
    Chainer's BN links in a distributed run) calls
    ``comm._multi_node_mean_nccl`` without a stream; under
    ``chainer.set_debug(True)`` that method then calls
    ``None.synchronize()``.  This shadows the method on ``comm`` (a
    ``pure_nccl`` communicator) with one that fills in the current stream
    when none is given.  Returns ``comm``.
    """
    method = comm._multi_node_mean_nccl

    def multi_node_mean_nccl(sendbuf, recvbuf, n_elems, dtype, stream=None):
        if stream is None:
            stream = current_stream()
        return method(sendbuf, recvbuf, n_elems, dtype, stream)
    comm._multi_node_mean_nccl = multi_node_mean_nccl
    return comm


class AllReduceSum(chainer.FunctionNode):
    """``y = sum over processes of x``; differentiable: every process's
    ``y`` depends on every ``x``, so ``gx`` is the sum over processes of
    ``gy``."""

    def __init__(self, comm):
        self.comm = comm

    def forward(self, inputs):
        x, = inputs
        return allreduce_sum(self.comm, x),

    def backward(self, indexes, grad_outputs):
        gy, = grad_outputs
        return AllReduceSum(self.comm).apply((gy,))


def global_moments(x, axes, comm):
    """Mean and (biased) variance over ``axes`` of ``x`` and of the same
    tensors on every process of ChainerMN communicator ``comm``,
    differentiable; every process has the same batch size.

    Returns ``(mean, x - mean, var)`` with ``keepdims`` shapes.
    """
    count = 1
    for a in axes:
        count *= x.shape[a]
    total = count * comm.size

    def global_sum(v):
        return AllReduceSum(comm).apply((v,))[0]

    mean = global_sum(F.sum(x, axis=axes, keepdims=True)) / total
    centered = x - F.broadcast_to(mean, x.shape)
    var = global_sum(F.sum(F.square(centered), axis=axes,
                           keepdims=True)) / total
    return mean, centered, var
