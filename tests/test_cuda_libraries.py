"""The [gpu] extra's NVIDIA wheels are loaded by absolute path before CuPy
is imported (a fake site-packages folder; no CUDA needed)."""
import sys

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
    monkeypatch.setattr(sys, 'path', [str(tmp_path)] + sys.path)
    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    calls = []
    loaded = cuda_libraries.preload(
        load=lambda path, mode: calls.append(path))
    assert calls == [str(tmp_path / r) for r in (
        present[2], present[0], present[1])]  # runtime first
    assert sorted(loaded) == ['libcublas.so.12', 'libcudart.so.12',
                              'libcudnn.so.8']
    assert cuda_libraries.preload(load=None) is loaded  # once only


def test_opt_out_and_too_late(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    monkeypatch.setenv('CHAINER_TAGGER_CUDA_PRELOAD', '0')
    assert cuda_libraries.preload(load=None) == {}
    _fresh(monkeypatch)
    monkeypatch.delenv('CHAINER_TAGGER_CUDA_PRELOAD')
    monkeypatch.setitem(sys.modules, 'cupy', object())
    assert cuda_libraries.preload(load=None) == {}
    assert 'imported before' in cuda_libraries.errors['*']


def test_a_library_that_fails_to_load_is_reported(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    relative = 'nvidia/cudnn/lib/libcudnn.so.8'
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_bytes(b'not a library')
    monkeypatch.setattr(sys, 'path', [str(tmp_path)])
    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    assert cuda_libraries.preload() == {}  # the real ctypes.CDLL
    assert 'libcudnn.so.8' in cuda_libraries.errors
