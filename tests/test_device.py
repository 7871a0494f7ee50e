"""Devices: a GPU that cannot be used is a clear error, and a model stays
on the device it is on unless a device is asked for."""
import numpy as np
import pytest

import chainer

from chainer_tagger import device
from chainer_tagger.errors import DeviceError
from chainer_tagger.models import MusicTaggerCNN


def test_cpu_is_always_there():
    assert device.get_device(None).xp is np
    assert device.get_device(-1).xp is np


def test_gpu_without_cupy_says_so(monkeypatch):
    monkeypatch.setattr(chainer.backends.cuda, 'available', False)
    with pytest.raises(DeviceError, match='CuPy is not usable'):
        device.get_device(0)


def test_gpu_id_beyond_the_devices_is_refused(monkeypatch):
    monkeypatch.setattr(chainer.backends.cuda, 'available', True)
    monkeypatch.setattr(device, '_device_count', lambda: (1, None))
    with pytest.raises(DeviceError, match='--gpu 7: this machine has 1 CUDA '
                                          'device$'):
        device.get_device(7)
    monkeypatch.setattr(device, '_device_count', lambda: (
        0, 'CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device is '
           'detected'))
    with pytest.raises(DeviceError, match=r'has 0 CUDA devices \(CUDARuntime'
                                          r'Error: cudaErrorNoDevice: no '):
        device.get_device(0)


def test_none_leaves_a_model_where_it_is(monkeypatch):
    model = MusicTaggerCNN()

    def refuse(*args):
        raise AssertionError('the model was moved')
    monkeypatch.setattr(model, 'to_device', refuse)
    assert device.to_device(model, None) is model
    assert device.to_device(model, -1) is model  # already on the CPU


def test_report_has_a_verdict_without_a_gpu(monkeypatch):
    monkeypatch.setattr(chainer.backends.cuda, 'available', False)
    rows, verdict = device.gpu_report()
    labels = dict(rows)
    assert labels['chainer'] == chainer.__version__
    assert 'chainer.backends.cuda.available' in labels
    assert verdict.startswith('CPU only')


def test_tag_and_embed_leave_a_loaded_model_where_it_is(tmp_path,
                                                        monkeypatch):
    """``tag(paths, model=gpu_model)`` must run where the model is: no
    command moves a loaded model back to the CPU."""
    from chainer_tagger.inference import embed_files, tag
    np.save(tmp_path / 'a.npy', np.random.RandomState(0).normal(
        size=(96, 1366)).astype(np.float32))
    model = MusicTaggerCNN()

    def refuse(*args):
        raise AssertionError('the model was moved')
    monkeypatch.setattr(model, 'to_device', refuse)
    [result] = tag(str(tmp_path / 'a.npy'), model=model)
    assert len(result['tags']) == 50
    features, _ = embed_files(model, [tmp_path / 'a.npy'])
    assert features.shape == (1, 256)


def test_no_device_says_what_cuda_said(monkeypatch):
    """Without a driver or a GPU, ``--gpu 0`` and ``doctor`` carry the
    CUDA runtime's own error (the state ``make gpu-check`` ends at on a
    machine without a GPU)."""
    class CUDARuntimeError(RuntimeError):
        pass

    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise CUDARuntimeError('cudaErrorNoDevice: no CUDA-capable '
                                   'device is detected')

    class FakeCupy:
        class cuda:
            runtime = Runtime
    monkeypatch.setattr(chainer.backends.cuda, 'available', True)
    monkeypatch.setattr(chainer.backends.cuda, 'cupy', FakeCupy)
    assert device.gpu_count() == 0
    with pytest.raises(DeviceError, match=r'^--gpu 0: this machine has 0 '
                                          r'CUDA devices \(CUDARuntimeError: '
                                          r'cudaErrorNoDevice: no CUDA-'):
        device.get_device(0)
