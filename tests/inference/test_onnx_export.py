"""ONNX export: onnxruntime gives the Chainer model's scores (or
features), for every model a user can name or train."""
import json

import numpy as np
import onnx
import onnx_chainer
import onnxruntime
import pytest

import chainer
import chainer.links as L

from chainer_tagger.audio import open_input
from chainer_tagger.cli import main
from chainer_tagger.configuration import WAVEFORM_INPUT
from chainer_tagger.inference import onnx_export
from chainer_tagger.models import load_model
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.training.probe import build_probe

from conftest import AUDIO, SONGS

shared = pytest.mark.shared


def _run(path, x):
    """onnxruntime's output of the exported file on one batch."""
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _close(got, want):
    """Equal to rtol 1e-4 of the largest value (float32 sums in another
    order)."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())


@pytest.fixture(scope='module')
def waveforms():
    """The centre SoundNet window (22,050 Hz) of each of the four songs."""
    return np.stack([open_input(AUDIO / (s + '.mp3'), WAVEFORM_INPUT)
                     .windows[0].read()[0] for s in SONGS])


@shared
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


@shared
def test_mode2_model_exports_with_its_batch(tmp_path, shipped_melgrams):
    path = tmp_path / 'cnn0.onnx'
    assert main(['export', '--model', 'cnn0-msd', '--batch-size', '4',
                 '-o', str(path)]) == 0
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {'melgram': shipped_melgrams})[0]
    want = load_model('cnn0-msd').predict(shipped_melgrams)  # one batch
    assert np.abs(got - want).max() <= 1e-4


@shared
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


@shared
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


class _Lstms(chainer.Chain):
    """Two stacked LSTMs over ``(N, steps, features)``, every output."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.lstm = L.NStepLSTM(2, 5, 7, 0.2)

    def forward(self, x):
        _, _, hs = self.lstm(None, None, list(chainer.functions.separate(
            x, axis=0)))
        return chainer.functions.stack(hs)


def _numpy_lstms(link, x):
    """The two LSTMs in NumPy, from Chainer's weights ``w0``..``w7`` of
    each layer: input gate ``w0, w4``, forget gate ``w1, w5``, cell input
    ``w2, w6`` (tanh), output gate ``w3, w7`` (the order Chainer's CPU
    code and cuDNN use; the docstring of ``n_step_lstm`` names ``W_2`` the
    output gate and ``W_3`` the cell input)."""
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))
    h_seq = x.astype(np.float64)
    for layer in link.lstm:
        w = [getattr(layer, 'w{}'.format(k)).array for k in range(8)]
        b = [getattr(layer, 'b{}'.format(k)).array for k in range(8)]
        h = np.zeros((len(x), w[4].shape[0]))
        c = np.zeros_like(h)
        out = []
        for t in range(x.shape[1]):
            g = [h_seq[:, t] @ w[k].T + b[k] + h @ w[k + 4].T + b[k + 4]
                 for k in range(4)]
            c = sigmoid(g[1]) * c + sigmoid(g[0]) * np.tanh(g[2])
            h = sigmoid(g[3]) * np.tanh(c)
            out.append(h)
        h_seq = np.stack(out, axis=1)
    return h_seq


@pytest.mark.parametrize('opset', [8, 11])
def test_lstm_cells_become_onnx_operators(opset):
    """Chainer's CPU LSTM (``n_step_lstm`` unrolled: a matrix product per
    step, then the ``lstm`` cell) exports with the cell as Reshape, Split,
    Sigmoid, Tanh, Mul and Add: onnxruntime gives Chainer's outputs, and
    both a NumPy LSTM's, on inputs that keep the gates unsaturated."""
    rng = np.random.RandomState(0)
    link = _Lstms()
    for p in link.params():
        p.array[...] = rng.normal(0, 0.5, p.shape)
    x = rng.normal(size=(3, 8, 5)).astype(np.float32)
    with chainer.using_config('train', False):
        want = link(x).array
        proto = onnx_chainer.export(
            link, x, filename=None, opset_version=opset,
            external_converters=onnx_export.EXTRA_CONVERTERS)
    ops = [n.op_type for n in proto.graph.node]
    assert 'LSTM' not in ops and ops.count('Tanh') == 2 * 2 * 8
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(want, _numpy_lstms(link, x), rtol=1e-4,
                               atol=1e-5)
    assert 0.05 < np.abs(want).mean() < 0.9  # the gates are not saturated


@shared
def test_soundnet8_exports_its_features(tmp_path, waveforms):
    """soundnet8 has no classes: its export is what ``embed`` gives."""
    path = tmp_path / 'soundnet8.onnx'
    assert main(['export', '--model', 'soundnet8', '-o', str(path)]) == 0
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ['waveform']
    assert [o.name for o in proto.graph.output] == ['features']
    props = {p.key: p.value for p in proto.metadata_props}
    assert 'tags' not in props and props['model'] == 'soundnet8'
    assert props['output'].startswith('features')
    got = np.concatenate([_run(path, w[None]) for w in waveforms])
    _close(got, load_model('soundnet8').extract(waveforms))


def _fitted_probe(features, inputs):
    """A probe on ``features`` whose standardization is that of
    ``inputs``' features and whose classifier gives unsaturated
    probabilities (random, fixed)."""
    probe = build_probe(features)
    feats = probe.extract(inputs)
    rng = np.random.RandomState(0)
    d = feats.shape[1]
    return probe.set_classifier(feats.mean(axis=0), feats.std(axis=0) + 1,
                                rng.normal(0, 1 / np.sqrt(d), (10, d)),
                                rng.normal(0, 0.5, 10))


@shared
@pytest.mark.parametrize('features', ['soundnet8', 'crnn-msd', 'cnn-msd'])
def test_probes_export(features, tmp_path, waveforms, shipped_melgrams):
    inputs = waveforms if features == 'soundnet8' else shipped_melgrams
    probe = _fitted_probe(features, inputs)
    saved = tmp_path / 'probe.npz'
    save_model_npz(saved, probe, {'arch': 'probe', 'name': None,
                                  'settings': probe.settings})
    path = tmp_path / 'probe.onnx'
    assert main(['export', '--model', str(saved), '-o', str(path)]) == 0
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props['tags'])[0] == 'blues'
    assert 'softmax' in props['output']
    got = np.concatenate([_run(path, x[None]) for x in inputs])
    want = load_model(str(saved)).predict(inputs)
    assert want.std() > 0.01  # not saturated
    _close(got, want)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)


@shared
def test_trained_music2vec_exports_with_its_batch(trained, tmp_path,
                                                  waveforms):
    """music2vec: SoundNet as 2-D convolutions, its two LSTMs unrolled
    over the 8 steps, the dense layers and the softmax; a batch of 2."""
    model = str(trained / 'best_model.npz')
    path = tmp_path / 'music2vec.onnx'
    assert main(['export', '--model', model, '--batch-size', '2', '-o',
                 str(path)]) == 0
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ['waveform']
    ops = {n.op_type for n in proto.graph.node}
    assert {'Conv', 'Sigmoid', 'Tanh', 'Softmax'} <= ops
    got = np.concatenate([_run(path, waveforms[i:i + 2])
                          for i in (0, 2)])
    want = load_model(model).predict(waveforms)
    _close(got, want)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)


@shared
def test_a_function_without_converter_is_refused_in_one_line(
        trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(onnx_export, 'EXTRA_CONVERTERS', {})
    out = tmp_path / 'm.onnx'
    assert main(['export', '--model', str(trained / 'best_model.npz'),
                 '-o', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and not out.exists()
    assert 'cannot export to ONNX' in err
    assert 'no converter for the Chainer function LSTM' in err


@shared
def test_export_traces_whatever_the_model_predicts(trained, tmp_path,
                                                   waveforms):
    """The export asks the model for its predict graph (``forward``), not
    for attribute names: a music2vec ensemble (the recipe's heads on one
    SoundNet body, averaged in probability) exports as such."""
    net = load_model(str(trained / 'best_model.npz'))
    assert net.n_heads > 1
    want = net.predict(waveforms[:1])
    with chainer.using_config('train', False):
        first = net.scores(net.head_logits(net.body(waveforms[:1]))[:, 0])
    assert np.abs(want - first.array).max() > 1e-4  # the other heads count
    proto = onnx_export.export_onnx(net, tmp_path / 'heads.onnx')
    ops = [n.op_type for n in proto.graph.node]
    # The heads' log-softmax (over their stacked logits), their
    # log-mean-exp, then the model's softmax.
    assert {'LogSoftmax', 'ReduceLogSumExp', 'Softmax'} <= set(ops), \
        sorted(set(ops))
    _close(_run(tmp_path / 'heads.onnx', waveforms[:1]), want)
