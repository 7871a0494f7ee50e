"""Where the kernel of a layer is chosen: the one place that decides."""
import contextlib

import numpy

import chainer

from chainer_tagger.errors import DeviceError

#: ``chainer.config`` key: ``'auto'`` (CPU kernels on NumPy arrays) or
#: ``'generic'`` (Chainer's standard functions everywhere: the graph a GPU
#: runs, and what ONNX export traces).
CONFIG_KEY = 'chainer_tagger_kernels'


@contextlib.contextmanager
def generic_kernels():
    """Run Chainer's standard functions even on the CPU (ONNX export, and
    tests of the graph the GPU runs)."""
    with chainer.using_config(CONFIG_KEY, 'generic'):
        yield


def _array(a):
    return a.array if isinstance(a, chainer.Variable) else a


def cpu_kernels_apply(x, *params):
    """Whether the CPU kernels should run on input ``x`` with ``params``.

    True when every array is a float32 NumPy array (the CPU kernels compute
    in float32; a float64 model runs Chainer's functions) and the kernels
    are not switched off by :func:`generic_kernels`.  An input on another
    device than the weights is a
    :class:`~chainer_tagger.errors.DeviceError` (Chainer would raise a
    ``TypeError`` deep inside a function).
    """
    arrays = [_array(a) for a in (x,) + params if _array(a) is not None]
    on_cpu = [isinstance(a, numpy.ndarray) for a in arrays]
    if any(on_cpu) and not all(on_cpu):
        raise DeviceError(
            'the input is on {} but the weights are on {}: send inputs to '
            "the model's device (model.device.send(x))".format(
                chainer.backend.get_device_from_array(arrays[0]),
                chainer.backend.get_device_from_array(
                    arrays[on_cpu.index(not on_cpu[0])])))
    return all(on_cpu) and all(a.dtype == numpy.float32 for a in arrays) \
        and getattr(chainer.config, CONFIG_KEY, 'auto') != 'generic'


def host_only(function):
    """Declare that ``function`` computes on NumPy (host) arrays only.

    Everything else in ``links/``, ``models/`` and ``functions/`` runs on
    the arrays of the model's device (CuPy on a GPU) and must compute with
    Chainer's functions or the array's own module (``xp``), never NumPy,
    which fails or silently copies a GPU array to the host.  Declared
    host-only: a CPU kernel (called where :func:`cpu_kernels_apply` said
    so), or the host side of a transfer (inputs before ``device.send``,
    outputs after ``to_cpu``).  ``tests/test_device_lint.py`` reads this
    decorator (and a module's ``HOST_ONLY = True``) from the source; a
    function nested in a host-only one is host-only too.
    """
    function.host_only = True
    return function


def forbid_double_backprop(name):
    """Refuse to differentiate a CPU kernel's backward pass again.

    The CPU kernels' backward passes are NumPy code, not Chainer graphs;
    double backpropagation runs on Chainer's standard functions
    (:func:`generic_kernels`).
    """
    if chainer.config.enable_backprop:
        raise NotImplementedError(
            '{}: double backpropagation needs Chainer\'s standard '
            'functions: run it inside chainer_tagger.functions.'
            'generic_kernels()'.format(name))
