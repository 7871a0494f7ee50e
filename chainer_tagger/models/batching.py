"""Running a link over many inputs, one batch at a time."""
import numpy as np

import chainer

from chainer_tagger.functions.kernel_choice import host_only


@host_only
def run_in_batches(link, method, inputs, batch_size, prepare=np.asarray):
    """``method`` over ``inputs`` in inference mode, batch by batch, to
    NumPy.

    ``inputs`` is an array or any sequence that can be sliced (it may read
    its items lazily); ``prepare`` turns a slice into the batch array.
    Batches are sent to the link's device and the results come back to the
    CPU.  ``batch_size`` None: all inputs in one batch.
    """
    out = []
    n = len(inputs)
    batch_size = max(1, int(batch_size or n or 1))
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', False):
        for i in range(0, n, batch_size):
            xb = link.device.send(prepare(inputs[i:i + batch_size]))
            out.append(chainer.backends.cuda.to_cpu(method(xb).array))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
