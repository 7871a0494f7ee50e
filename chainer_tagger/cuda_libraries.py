"""Making the CUDA libraries of the ``[gpu]`` extra visible to CuPy.

The ``[gpu]`` extra installs CuPy 13 with NVIDIA's ``nvidia-*-cu12`` wheels
(cuBLAS, cuDNN 8, NCCL, ...).  CuPy 13 links those libraries by name
(``libcublas.so.12``, ``libcudnn.so.8``) but, apart from NCCL, does not look
for them inside the wheels, and ``LD_LIBRARY_PATH`` cannot be changed for a
running process.  Once a library of that name is loaded, though, the
dynamic linker reuses it; so :func:`preload` loads each wheel's library by
its absolute path, and must run before the first ``import cupy`` (which
``import chainer`` does).  ``chainer_tagger/__init__.py`` calls it first
thing.  Set ``CHAINER_TAGGER_CUDA_PRELOAD=0`` to use a system CUDA instead.

No Chainer or CuPy import here: this module is what runs before them.
"""
import ctypes
import os
import sys

#: (wheel, file inside site-packages), in dependency order.
WHEEL_LIBRARIES = (
    ('nvidia-cuda-runtime-cu12', 'nvidia/cuda_runtime/lib/libcudart.so.12'),
    ('nvidia-nvjitlink-cu12', 'nvidia/nvjitlink/lib/libnvJitLink.so.12'),
    ('nvidia-cublas-cu12', 'nvidia/cublas/lib/libcublasLt.so.12'),
    ('nvidia-cublas-cu12', 'nvidia/cublas/lib/libcublas.so.12'),
    ('nvidia-cusparse-cu12', 'nvidia/cusparse/lib/libcusparse.so.12'),
    ('nvidia-cusolver-cu12', 'nvidia/cusolver/lib/libcusolver.so.11'),
    ('nvidia-cufft-cu12', 'nvidia/cufft/lib/libcufft.so.11'),
    ('nvidia-curand-cu12', 'nvidia/curand/lib/libcurand.so.10'),
    ('nvidia-cuda-nvrtc-cu12', 'nvidia/cuda_nvrtc/lib/libnvrtc.so.12'),
    ('nvidia-cudnn-cu12', 'nvidia/cudnn/lib/libcudnn.so.8'),
    ('nvidia-nccl-cu12', 'nvidia/nccl/lib/libnccl.so.2'),
)
PRELOAD_ENV = 'CHAINER_TAGGER_CUDA_PRELOAD'

#: soname -> path of what :func:`preload` loaded, and soname -> error.
loaded = {}
errors = {}
_done = []


def _wheel_file(relative):
    """The first ``site-packages/<relative>`` on ``sys.path`` (a plain file
    test per entry: much faster at import than package metadata)."""
    for entry in sys.path:
        path = os.path.join(entry or '.', relative)
        if os.path.isfile(path):
            return path
    return None


def preload(load=ctypes.CDLL):
    """Load the ``nvidia-*-cu12`` wheels' libraries that are installed.

    Does nothing off Linux, when ``CHAINER_TAGGER_CUDA_PRELOAD=0``, on a
    second call, or when CuPy is already imported (too late to help; noted
    in :data:`errors`).  Returns :data:`loaded`.
    """
    if _done or not sys.platform.startswith('linux'):
        return loaded
    _done.append(True)
    if os.environ.get(PRELOAD_ENV, '1') == '0':
        return loaded
    if 'cupy' in sys.modules:
        errors['*'] = 'cupy was imported before chainer_tagger; nothing done'
        return loaded
    for _, relative in WHEEL_LIBRARIES:
        path = _wheel_file(relative)
        if path is None:
            continue
        soname = os.path.basename(relative)
        try:
            load(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errors[soname] = str(e)
        else:
            loaded[soname] = path
    return loaded
