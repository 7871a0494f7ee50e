"""Making the CUDA libraries of the ``[gpu]`` extra visible to CuPy.

The ``[gpu]`` extra installs CuPy 13 with NVIDIA's ``nvidia-*-cu12`` wheels
(cuBLAS, cuDNN 8, NCCL, ...).  CuPy 13 links those libraries by name
(``libcublas.so.12``, ``libcudnn.so.8``) and, on Linux, leaves finding them
to the dynamic linker: ``cupy/_environment.py`` looks inside wheels only
for NCCL and cuTENSOR (``_get_nccl_from_wheel``), ``CUDA_PATH`` serves
NVRTC's headers and nvcc, and ``CUPY_CUDA_LIB_PATH`` holds only
``cupyx.tools.install_library``'s cuDNN/NCCL/cuTENSOR layout; the
``cupy-cuda12x`` 13.x wheel has no ``[ctk]`` extra and no RPATH.
``LD_LIBRARY_PATH`` cannot be changed for a running process, but once a
library of that name is loaded, the dynamic linker reuses it; so
:func:`preload` loads each wheel's library by its absolute path.

When: CuPy 13 loads cuBLAS and the others lazily (``cupy.cuda.cublas`` on
first use), but ``import chainer`` uses cuBLAS at once, and a Chainer that
failed to find it keeps its CUDA backend off for the whole process.  So
the preload runs just before the first ``import cupy`` of any process of
an environment where chainer-tagger is installed: the start-up hook
``chainer_tagger_cuda.pth`` (``_chainer_tagger_cuda.py``) calls
:func:`install_import_hook`, whatever is imported first.
``chainer_tagger/__init__.py`` calls :func:`preload` too (a source
checkout on ``PYTHONPATH`` has no ``.pth``).  Set
``CHAINER_TAGGER_CUDA_PRELOAD=0`` to use a system CUDA instead.

No Chainer or CuPy import here (stdlib only): this module runs before
them, loaded by the start-up hook without the ``chainer_tagger`` package.
"""
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


def preload(load=None):
    """Load the ``nvidia-*-cu12`` wheels' libraries that are installed.

    Does nothing off Linux, when ``CHAINER_TAGGER_CUDA_PRELOAD=0``, or on a
    second call.  Returns :data:`loaded`.  An imported ``cupy`` is no
    reason to stop (CuPy loads the libraries on first use), but a Chainer
    that already failed to find them stays without CUDA: that is noted in
    :data:`errors` (``chainer-tagger doctor`` shows it).  ``load`` is
    ``ctypes.CDLL`` (imported here: the start-up hook stays cheap).
    """
    if _done or not sys.platform.startswith('linux'):
        return loaded
    _done.append(True)
    if os.environ.get(PRELOAD_ENV, '1') == '0':
        return loaded
    import ctypes
    load = load or ctypes.CDLL
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
    chainer_cuda = sys.modules.get('chainer.backends.cuda')
    if loaded and chainer_cuda is not None and not getattr(
            chainer_cuda, 'available', True):
        errors['*'] = (
            'chainer was imported before the CUDA libraries were loaded '
            '({}), and keeps CUDA off in this process; the start-up hook '
            'chainer_tagger_cuda.pth is missing (reinstall chainer-tagger) '
            'or was bypassed (python -S)'.format(
                getattr(chainer_cuda, '_resolution_error', '?')))
    return loaded


class _PreloadBeforeCupy:
    """A ``sys.meta_path`` entry that runs :func:`preload` when ``cupy``
    is about to be imported, then leaves (it finds nothing itself)."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == 'cupy':
            remove_import_hook()
            try:
                preload()
            except Exception as e:  # the import of cupy must go on
                errors['*'] = '{}: {}'.format(type(e).__name__, e)
        return None


def install_import_hook():
    """Run :func:`preload` just before the first ``import cupy`` (at once
    if CuPy is already imported).  Cheap: nothing is loaded in a process
    that never imports CuPy."""
    if 'cupy' in sys.modules:
        return preload()
    if _PreloadBeforeCupy not in sys.meta_path:
        sys.meta_path.insert(0, _PreloadBeforeCupy)
    return loaded


def remove_import_hook():
    while _PreloadBeforeCupy in sys.meta_path:
        sys.meta_path.remove(_PreloadBeforeCupy)
