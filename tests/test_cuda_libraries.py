"""The [gpu] extra's NVIDIA wheels are loaded by absolute path before CuPy
is imported (a fake site-packages folder; no CUDA needed)."""
import os
import sys
from pathlib import Path

import pytest

from chainer_tagger import cuda_libraries


def _fresh(monkeypatch):
    monkeypatch.setattr(cuda_libraries, '_done', [])
    monkeypatch.setattr(cuda_libraries, 'loaded', {})
    monkeypatch.setattr(cuda_libraries, 'errors', {})


def test_wheel_libraries_are_loaded_in_order(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    present = ('nvidia/cublas/lib/libcublas.so.12',
               'nvidia/cudnn/lib/libcudnn.so.8',
               'nvidia/cuda_runtime/lib/libcudart.so.12')
    for relative in present:
        (tmp_path / relative).parent.mkdir(parents=True)
        (tmp_path / relative).write_bytes(b'')
    monkeypatch.setattr(sys, 'path', [str(tmp_path)])  # no real wheels
    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    calls = []
    loaded = cuda_libraries.preload(
        load=lambda path, mode: calls.append(path))
    assert calls == [str(tmp_path / r) for r in (
        present[2], present[0], present[1])]  # runtime first
    assert sorted(loaded) == ['libcublas.so.12', 'libcudart.so.12',
                              'libcudnn.so.8']
    assert cuda_libraries.preload(load=None) is loaded  # once only


def test_opt_out(monkeypatch):
    _fresh(monkeypatch)
    monkeypatch.setenv('CHAINER_TAGGER_CUDA_PRELOAD', '0')
    assert cuda_libraries.preload(load=None) == {}


def _one_wheel_library(tmp_path, monkeypatch):
    relative = 'nvidia/cublas/lib/libcublas.so.12'
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_bytes(b'')
    monkeypatch.setattr(sys, 'path', [str(tmp_path)])


def test_an_imported_cupy_is_no_reason_to_stop(tmp_path, monkeypatch):
    """CuPy 13 loads cuBLAS & co. on first use, not at ``import cupy``."""
    _fresh(monkeypatch)
    _one_wheel_library(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, 'cupy', object())
    monkeypatch.delitem(sys.modules, 'chainer.backends.cuda',
                        raising=False)
    assert list(cuda_libraries.preload(load=lambda path, mode: None)) == [
        'libcublas.so.12']
    assert cuda_libraries.errors == {}


def test_a_chainer_that_gave_up_is_reported(tmp_path, monkeypatch):
    """A Chainer imported before the libraries could be found keeps CUDA
    off: ``doctor`` says so, and why."""
    _fresh(monkeypatch)
    _one_wheel_library(tmp_path, monkeypatch)

    class GaveUp:
        available = False
        _resolution_error = OSError('libcublas.so.12: cannot open shared '
                                    'object file')
    monkeypatch.setitem(sys.modules, 'chainer.backends.cuda', GaveUp)
    cuda_libraries.preload(load=lambda path, mode: None)
    assert 'chainer was imported before' in cuda_libraries.errors['*']
    assert 'libcublas.so.12: cannot open' in cuda_libraries.errors['*']


def test_the_import_hook_preloads_just_before_cupy(monkeypatch):
    hook = cuda_libraries._PreloadBeforeCupy
    monkeypatch.setattr(sys, 'meta_path', list(sys.meta_path))
    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    calls = []
    monkeypatch.setattr(cuda_libraries, 'preload',
                        lambda: calls.append('preload'))
    cuda_libraries.install_import_hook()
    cuda_libraries.install_import_hook()
    assert sys.meta_path.count(hook) == 1 and sys.meta_path[0] is hook
    assert hook.find_spec('numpy') is None and calls == []
    assert hook in sys.meta_path  # still waiting for cupy
    assert hook.find_spec('cupy') is None  # the real finders find it
    assert calls == ['preload'] and hook not in sys.meta_path
    monkeypatch.setitem(sys.modules, 'cupy', object())
    cuda_libraries.install_import_hook()  # too late for a hook: at once
    assert calls == ['preload'] * 2 and hook not in sys.meta_path


def test_the_startup_hook_loads_no_package_and_shares_its_state():
    """``chainer_tagger_cuda.pth`` imports ``_chainer_tagger_cuda`` (if it
    is there) at
    every start of Python: that must not import Chainer (nor the package,
    which does), and the package must reuse the module it loaded."""
    import subprocess
    import textwrap
    root = Path(__file__).resolve().parents[1]
    # (A stale .pth without its module must not break Python's start.)
    assert (root / 'chainer_tagger_cuda.pth').read_text() == (
        "import importlib.util; importlib.util.find_spec("
        "'_chainer_tagger_cuda') and __import__('_chainer_tagger_cuda')\n")
    script = textwrap.dedent("""
        import sys
        import _chainer_tagger_cuda
        module = sys.modules['chainer_tagger.cuda_libraries']
        assert 'chainer_tagger' not in sys.modules, 'package imported'
        assert 'chainer' not in sys.modules and 'ctypes' not in sys.modules
        assert module._PreloadBeforeCupy in sys.meta_path
        import chainer_tagger
        assert chainer_tagger.cuda_libraries is module
        print('ok')
    """)
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, '-c', script], env=env,
                         capture_output=True, text=True, cwd=str(root))
    assert out.stdout.strip() == 'ok', out.stderr


def test_a_library_that_fails_to_load_is_reported(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    relative = 'nvidia/cudnn/lib/libcudnn.so.8'
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_bytes(b'not a library')
    monkeypatch.setattr(sys, 'path', [str(tmp_path)])
    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    assert cuda_libraries.preload() == {}  # the real ctypes.CDLL
    assert 'libcudnn.so.8' in cuda_libraries.errors


# -- With the [gpu] extra installed (make gpu-check): real libraries ------

#: Run in a fresh interpreter after importing the modules named in argv:
#: what Chainer and CuPy see.
ORDER_SCRIPT = r"""
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import chainer, cupy
cuda = chainer.backends.cuda
seen = {'available': cuda.available, 'cudnn': cuda.cudnn_enabled,
        'why': str(getattr(cuda, '_resolution_error', ''))}
# Each of CuPy's lazily loaded CUDA libraries, as a GPU run would load them.
from cupy.cuda import cublas, cufft, curand, cusolver, cusparse, nccl
from cupy_backends.cuda.libs import nvrtc
seen['nccl'] = nccl.available
try:
    seen['devices'] = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError as e:
    seen['devices'] = str(e).split(':')[0]
print(json.dumps(seen))
"""
#: What the runtime says without a usable GPU: no device, or no driver.
NO_DEVICE = ('cudaErrorNoDevice', 'cudaErrorInsufficientDriver')


@pytest.mark.gpu_extra
def test_the_gpu_stack_loads_in_any_import_order():
    """Chainer first (``benchmarks/run.py`` did), CuPy first, or
    chainer_tagger first: each process ends at the same state, a usable
    CuPy and Chainer with cuDNN and NCCL, and then a GPU count or "no CUDA
    device", never at "libcublas.so.12: cannot open shared object file"
    (which the start-up hook ``chainer_tagger_cuda.pth`` prevents)."""
    import json
    import site
    import subprocess
    assert any(os.path.isfile(os.path.join(d, 'chainer_tagger_cuda.pth'))
               for d in site.getsitepackages()), \
        "the start-up hook is not installed: pip install -e '.[gpu]'"
    seen = {}
    for first in ('chainer', 'cupy', 'chainer_tagger'):
        out = subprocess.run(
            [sys.executable, '-c', ORDER_SCRIPT, first, 'chainer_tagger'],
            capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        seen[first] = json.loads(out.stdout)
    for first, state in seen.items():
        assert 'cannot open shared object file' not in state['why'], first
        assert state['available'] and state['cudnn'] and state['nccl'], \
            (first, state)
        assert isinstance(state['devices'], int) or \
            state['devices'] in NO_DEVICE, (first, state)
    assert seen['chainer'] == seen['cupy'] == seen['chainer_tagger']


@pytest.mark.gpu_extra
def test_the_preload_is_what_makes_it_load():
    """The same check with the preload switched off fails the way the
    issue says (so the test above can fail): Chainer imported alone finds
    no cuBLAS in the wheels."""
    import subprocess
    env = dict(os.environ, CHAINER_TAGGER_CUDA_PRELOAD='0')
    out = subprocess.run(
        [sys.executable, '-c', 'import chainer; print(chainer.backends.cuda.'
         '_resolution_error)'], capture_output=True, text=True, env=env)
    assert 'libcublas.so.12: cannot open shared object file' in out.stdout, \
        out.stdout + out.stderr
