"""Choosing the CPU (NumPy) or a CUDA GPU (CuPy) for a link, and telling
what the GPU stack looks like."""
import importlib.metadata

import chainer

from chainer_tagger import cuda_libraries
from chainer_tagger.errors import DeviceError


def _cuda_error(gpu, e):
    return DeviceError('--gpu {}: CUDA cannot use that device ({}: {}); '
                       '`chainer-tagger doctor` shows what Chainer sees'
                       .format(gpu, type(e).__name__, e))


def gpu_count():
    """Visible CUDA devices (0 without CuPy, a driver or a GPU)."""
    return _device_count()[0]


def _device_count():
    """``(count, why none)``: the CUDA runtime's error when it has no
    device (``cudaErrorNoDevice``, or ``cudaErrorInsufficientDriver``
    without a driver)."""
    cuda = chainer.backends.cuda
    if not cuda.available:
        return 0, 'CuPy is not usable: {}'.format(
            getattr(cuda, '_resolution_error', 'not installed'))
    try:
        count = cuda.cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError: no driver, no device
        return 0, '{}: {}'.format(type(e).__name__, e)
    return count, None if count else 'no device'


def get_device(gpu=None):
    """The Chainer device for ``gpu`` (None or negative: the CPU).

    Raises :class:`~chainer_tagger.errors.DeviceError` with an explanation
    when CuPy or the GPU is not usable, or ``gpu`` is not a device id of
    this machine.
    """
    if gpu is None or int(gpu) < 0:
        return chainer.get_device('@numpy')
    if not chainer.backends.cuda.available:
        raise DeviceError(
            '--gpu {} asks for CUDA, but CuPy is not usable here ({}); '
            "install chainer-tagger[gpu] on a machine with an NVIDIA GPU, "
            'and see `chainer-tagger doctor`'.format(
                gpu, getattr(chainer.backends.cuda, '_resolution_error',
                             'CuPy not installed')))
    count, why = _device_count()
    if int(gpu) >= count:
        raise DeviceError('--gpu {}: this machine has {} CUDA device{}{}'
                          .format(gpu, count, '' if count == 1 else 's',
                                  ' (ids 0 to {})'.format(count - 1)
                                  if count > 1 else
                                  ' ({})'.format(why) if why else ''))
    try:
        device = chainer.get_device('@cupy:{}'.format(int(gpu)))
        device.use()
    except Exception as e:  # CUDARuntimeError and the like
        raise _cuda_error(gpu, e) from None
    return device


def to_device(link, gpu=None):
    """Move ``link`` to GPU ``gpu`` (an int), or to the CPU for a negative
    ``gpu``; ``None`` leaves it on the device it is on (a model a caller
    put on a GPU stays there)."""
    if gpu is None:
        return link
    device = get_device(gpu)
    if device != link.device:
        link.to_device(device)
    return link


def gpu_report():
    """What Chainer sees of the GPU stack, as ``(label, value)`` rows, and
    a verdict; never raises (a failing probe is reported as its error)."""
    cuda = chainer.backends.cuda
    rows = []

    def probe(label, function):
        try:
            rows.append((label, function()))
        except Exception as e:
            rows.append((label, '{}: {}'.format(type(e).__name__, e)))

    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return 'not installed'

    rows.append(('chainer', chainer.__version__))
    rows.append(('cupy-cuda12x', version('cupy-cuda12x')))
    for dist in sorted({d for d, _ in cuda_libraries.WHEEL_LIBRARIES}):
        rows.append((dist, version(dist)))
    rows.append(('libraries preloaded', ', '.join(
        sorted(cuda_libraries.loaded)) or 'none'))
    for soname, why in sorted(cuda_libraries.errors.items()):
        rows.append(('preload error ' + soname, why))
    rows.append(('chainer.backends.cuda.available', cuda.available))
    if not cuda.available:
        rows.append(('why not', repr(getattr(cuda, '_resolution_error',
                                             None))))
        return rows, ('CPU only: CuPy is not usable (install '
                      'chainer-tagger[gpu] on a machine with an NVIDIA GPU)')
    runtime = cuda.cupy.cuda.runtime
    probe('CUDA runtime', runtime.runtimeGetVersion)
    probe('CUDA driver', runtime.driverGetVersion)
    rows.append(('cuDNN enabled', cuda.cudnn_enabled))
    if cuda.cudnn_enabled:
        rows.append(('cuDNN version', cuda._cudnn_version))

    def nccl():
        from cupy.cuda import nccl
        if not nccl.available:
            return 'not available'
        return 'build {}, runtime {}'.format(nccl.get_build_version(),
                                             nccl.get_version())
    probe('NCCL', nccl)
    count, why = _device_count()
    rows.append(('CUDA devices', '{} ({})'.format(count, why) if why
                 else count))
    for i in range(count):
        probe('device {}'.format(i), lambda i=i: '{} (compute {})'.format(
            runtime.getDeviceProperties(i)['name'].decode(),
            cuda.cupy.cuda.Device(i).compute_capability))
    if count == 0:
        verdict = 'no usable GPU: CuPy imports, but no driver or device'
    elif not cuda.cudnn_enabled:
        verdict = ('GPU usable without cuDNN (slower; install '
                   'nvidia-cudnn-cu12 8.9)')
    else:
        verdict = 'GPU ready: {} device{} with cuDNN'.format(
            count, '' if count == 1 else 's')
    return rows, verdict
