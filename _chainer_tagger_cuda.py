"""Start-up hook of chainer-tagger's ``[gpu]`` extra (``chainer_tagger_cuda.pth``).

CuPy 13 links cuBLAS, cuFFT, cuDNN... by name (``libcublas.so.12``) and
looks for them only where the dynamic linker does (``LD_LIBRARY_PATH``,
``ldconfig``), not inside NVIDIA's ``nvidia-*-cu12`` wheels (it finds only
NCCL and cuTENSOR there; CuPy 14's ``[ctk]`` extra and ``cuda-pathfinder``
came later).  :mod:`chainer_tagger.cuda_libraries` loads the wheels'
libraries by absolute path, which must happen before CuPy first loads
them, and ``import chainer`` does that at once.  Python runs the ``.pth``
file at every start of an interpreter of the environment, so that the
order in which a program imports ``chainer``, ``cupy`` and
``chainer_tagger`` does not matter.

This module installs an import hook and nothing else: the libraries are
loaded only when something imports ``cupy``.  It must never break an
interpreter's start, hence the broad ``except``.
"""
import importlib.util
import os
import sys


def install():
    """Load ``chainer_tagger/cuda_libraries.py`` (without importing the
    ``chainer_tagger`` package, which imports Chainer) under its own name,
    so the package shares its state, and install its ``cupy`` hook."""
    name = 'chainer_tagger.cuda_libraries'
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec('chainer_tagger')
    if package is None or not package.submodule_search_locations:
        return None
    path = os.path.join(package.submodule_search_locations[0],
                        'cuda_libraries.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    module.install_import_hook()
    return module


try:
    install()
except Exception as e:  # never stop Python from starting
    sys.stderr.write('chainer_tagger_cuda.pth: {}: {}\n'.format(
        type(e).__name__, e))
