"""ONNX export: onnxruntime gives the Chainer model's scores."""
import numpy as np
import onnx
import onnxruntime
import pytest

from chainer_tagger.cli import main
from chainer_tagger.models import load_model
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.training.probe import build_probe

pytestmark = pytest.mark.shared


@pytest.mark.parametrize('name', ['crnn-msd', 'cnn-msd', 'crnn-gtzan'])
def test_onnxruntime_matches_chainer(name, tmp_path, model,
                                     shipped_melgrams):
    path = tmp_path / (name + '.onnx')
    assert main(['export', '--model', name, '-o', str(path)]) == 0
    proto = onnx.load(str(path))
    ops = {node.op_type for node in proto.graph.node}
    if name.startswith('crnn'):
        assert 'HardSigmoid' in ops  # the Keras GRU's gates
        sig = [n for n in proto.graph.node if n.op_type == 'HardSigmoid'][0]
        attrs = {a.name: a.f for a in sig.attribute}
        assert attrs == pytest.approx({'alpha': 0.2, 'beta': 0.5})
    assert [i.name for i in proto.graph.input] == ['melgram']
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = np.concatenate([session.run(None, {'melgram': x[None]})[0]
                          for x in shipped_melgrams])
    want = model(name).predict(shipped_melgrams)
    assert np.abs(got - want).max() <= 1e-4


def test_mode2_model_exports_with_its_batch(tmp_path, shipped_melgrams):
    path = tmp_path / 'cnn0.onnx'
    assert main(['export', '--model', 'cnn0-msd', '--batch-size', '4',
                 '-o', str(path)]) == 0
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {'melgram': shipped_melgrams})[0]
    want = load_model('cnn0-msd').predict(shipped_melgrams)  # one batch
    assert np.abs(got - want).max() <= 1e-4


def test_metadata_names_the_tags(tmp_path):
    import json
    path = tmp_path / 'sub' / 'cnn.onnx'  # the folder is created
    assert main(['export', '--model', 'cnn-msd', '-o', str(path)]) == 0
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    tags = json.loads(props['tags'])
    assert len(tags) == 50 and tags[:2] == ['rock', 'pop']
    assert props['model'] == 'cnn-msd'


def test_what_cannot_be_exported_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / 'x.onnx'
    assert main(['export', '-m', 'soundnet8', '-o', str(out)]) == 2
    assert 'for the melgram taggers' in capsys.readouterr().err
    monkeypatch.setitem(__import__('sys').modules, 'onnx_chainer', None)
    assert main(['export', '-o', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'needs the onnx extra' in err and 'chainer-tagger[onnx]' in err
    assert err.count('\n') == 1 and not out.exists()


def _fine_tuned_crnn():
    """A CRNN as ``train --model crnn-msd`` saves it: a new 10-genre top,
    frozen body, looped input, standardized GRU input (its top weights are
    the random start)."""
    net = load_model('crnn-msd', input_fill='loop')
    net.with_classes('gtzan')
    net.freeze_body()
    # The GRUs' input standardized (statistics of made-up body outputs).
    return net.standardize_head_input(np.random.RandomState(1).normal(
        0.5, 2, size=(20, 15, 128)))


def _probe():
    probe = build_probe('crnn-msd')
    rng = np.random.RandomState(0)
    return probe.set_classifier(rng.normal(size=32), rng.uniform(1, 2, 32),
                                rng.normal(size=(10, 32)),
                                rng.normal(size=10))


@pytest.mark.parametrize('make', [_fine_tuned_crnn, _probe])
def test_trained_melgram_models_export(make, tmp_path, shipped_melgrams):
    net = make()
    saved = tmp_path / 'trained.npz'
    save_model_npz(saved, net, {'arch': net.arch, 'settings': net.settings,
                                'name': None})
    path = tmp_path / 'trained.onnx'
    assert main(['export', '--model', str(saved), '-o', str(path)]) == 0
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = np.concatenate([session.run(None, {'melgram': x[None]})[0]
                          for x in shipped_melgrams])
    want = load_model(str(saved)).predict(shipped_melgrams)
    assert want.shape == (4, 10)
    assert np.abs(got - want).max() <= 1e-4
