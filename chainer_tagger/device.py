"""Choosing the CPU (NumPy) or a CUDA GPU (CuPy) for a link."""
import chainer

from chainer_tagger.errors import DeviceError


def get_device(gpu=None):
    """The Chainer device for ``gpu`` (None or negative: the CPU).

    Raises :class:`~chainer_tagger.errors.DeviceError` with an explanation
    when CuPy or the GPU is not usable.
    """
    if gpu is None or int(gpu) < 0:
        return chainer.get_device('@numpy')
    if not chainer.backends.cuda.available:
        raise DeviceError(
            '--gpu {} asks for CUDA, but CuPy is not usable here; install '
            "chainer-tagger[gpu] (cupy-cuda12x) on a machine with an NVIDIA "
            'GPU'.format(gpu))
    return chainer.get_device('@cupy:{}'.format(int(gpu)))


def to_device(link, gpu=None):
    """Move ``link`` to GPU ``gpu`` (an int) or leave it on the CPU."""
    device = get_device(gpu)
    if device.xp is not link.xp:
        device.use()
        link.to_device(device)
    return link
