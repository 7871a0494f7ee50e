"""Choosing CPU (NumPy) or a CUDA GPU (CuPy) for a link."""


class DeviceError(RuntimeError):
    pass


def to_device(link, gpu=None):
    """Move ``link`` to GPU ``gpu`` (an int) or leave it on the CPU.

    Raises :class:`DeviceError` with an explanation when CuPy or the GPU is
    not usable.
    """
    if gpu is None or int(gpu) < 0:
        return link
    import chainer
    if not chainer.backends.cuda.available:
        raise DeviceError(
            '--gpu {} asks for CUDA, but CuPy is not usable here; install '
            "chainer-tagger[gpu] (cupy-cuda12x) on a machine with an NVIDIA "
            'GPU'.format(gpu))
    chainer.backends.cuda.get_device_from_id(int(gpu)).use()
    link.to_gpu(int(gpu))
    return link
