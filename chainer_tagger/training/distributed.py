"""Data-parallel training with ChainerMN (bundled with Chainer 7).

Start one process per device with MPI::

    mpiexec -n 4 chainer-tagger train --model music2vec --data GTZAN/ \\
        --distributed

Each process takes its shard of the training split; gradients are averaged
by ChainerMN's multi-node optimizer, so a step over ``n`` processes of batch
``b`` is a step over the concatenated batch of ``n * b``.  Batch
normalization takes its statistics over the global batch: Chainer's
``BatchNormalization`` becomes ChainerMN's ``MultiNodeBatchNormalization``,
and :class:`~chainer_tagger.links.KerasBatchNormalization` gathers its sums
from every process (:func:`chainer_tagger.functions.global_moments`).
CPUs use the ``naive`` communicator, GPUs ``pure_nccl`` (one GPU per
process, by intra-node rank).  Only rank 0 writes logs,
snapshots and models.
"""
import numpy as np

import chainer.links as L

from chainer_tagger.functions.global_moments import stream_for_nccl
from chainer_tagger.links import KerasBatchNormalization


def create_communicator(gpu=None):
    import chainermn
    if gpu is None or gpu < 0:
        return chainermn.create_communicator('naive')
    # (stream_for_nccl: ChainerMN's multi-node BN under chainer.set_debug.)
    return stream_for_nccl(chainermn.create_communicator('pure_nccl'))


def make_batch_norm_global(link, comm):
    """Give every batch normalization under ``link`` global statistics.

    Works on a link on any device: a replacement is moved to the device of
    the layer it replaces before the statistics are copied.
    """
    import chainermn
    for name, child in list(link.namedlinks(skipself=True)):
        if '/' in name.strip('/'):
            continue  # reached through its parent below
        if isinstance(child, KerasBatchNormalization):
            child.comm = comm
        elif isinstance(child, L.BatchNormalization):
            size = child.avg_mean.shape[0]
            new = chainermn.links.MultiNodeBatchNormalization(
                size, comm, decay=child.decay, eps=child.eps)
            new.to_device(child.device)
            for attr in ('gamma', 'beta'):
                getattr(new, attr).array[...] = getattr(child, attr).array
            new.avg_mean[...] = child.avg_mean
            new.avg_var[...] = child.avg_var
            attr = name.strip('/')
            delattr(link, attr)
            with link.init_scope():
                setattr(link, attr, new)
        else:
            make_batch_norm_global(child, comm)
    return link


def shard(indices, comm):
    """This process's share of a deterministic index list.

    Every process gets the same number of items (the list wraps around, as
    ChainerMN's ``scatter_dataset`` does), so that all processes reach the
    end of an epoch at the same iteration.
    """
    indices = np.asarray(indices)
    if len(indices) == 0:
        return indices
    per = -(-len(indices) // comm.size)
    return np.resize(indices, per * comm.size)[comm.rank::comm.size]
