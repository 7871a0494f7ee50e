"""Batch moments over the batches of every process (data-parallel BN)."""
import chainer.functions as F


def global_moments(x, axes, comm):
    """Mean and (biased) variance over ``axes`` of ``x`` and of the same
    tensors on every process of ChainerMN communicator ``comm``,
    differentiable (ChainerMN's allgather).

    Returns ``(mean, x - mean, var)`` with ``keepdims`` shapes.
    """
    import chainermn.functions
    count = 1
    for a in axes:
        count *= x.shape[a]
    total = count * comm.size

    def global_sum(v):
        return F.sum(F.stack(chainermn.functions.allgather(comm, v)), axis=0)

    mean = global_sum(F.sum(x, axis=axes, keepdims=True)) / total
    centered = x - F.broadcast_to(mean, x.shape)
    var = global_sum(F.sum(F.square(centered), axis=axes,
                           keepdims=True)) / total
    return mean, centered, var
