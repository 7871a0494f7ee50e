"""Every command reports the output function a model was trained with:
a softmax over exclusive classes for the models ``train`` makes
(music2vec, the fine-tuned CRNN, the probe), a sigmoid per tag for the
published taggers (issue 19: a fine-tuned CRNN's 10 genre scores of one
clip summed to 4.85 in ``tag`` while ``evaluate`` used the softmax)."""
import contextlib
import json
import sqlite3

import numpy as np
import onnxruntime
import pytest

import chainer

from chainer_tagger.audio import open_input
from chainer_tagger.cli import main
from chainer_tagger.models import load_model
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.training import clip_probabilities

pytestmark = pytest.mark.shared


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _raw_logits(model, x):
    with chainer.using_config('train', False), \
            chainer.no_backprop_mode():
        return model.logits(model.device.send(x)).array


def test_published_taggers_keep_a_sigmoid_per_tag(model, shipped_melgrams):
    for name in ('crnn-msd', 'cnn-msd', 'crnn-gtzan'):
        m = model(name)
        assert not m.exclusive_classes
        np.testing.assert_allclose(
            m.predict(shipped_melgrams),
            _sigmoid(_raw_logits(m, shipped_melgrams).astype(np.float64)),
            rtol=1e-5, atol=1e-7)
        assert 'exclusive_classes' not in m.settings  # store identity kept


@pytest.mark.parametrize('name', ['crnn-msd', 'cnn-msd'])
def test_a_tagger_fine_tuned_to_genres_reports_a_softmax(name,
                                                         shipped_melgrams):
    net = load_model(name).with_classes('gtzan')
    assert net.exclusive_classes and net.settings['exclusive_classes']
    scores = net.predict(shipped_melgrams)
    np.testing.assert_allclose(scores.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(
        scores, _softmax(_raw_logits(net, shipped_melgrams)), rtol=1e-5,
        atol=1e-7)
    # Multi-label tags asked for explicitly keep their sigmoids.
    multi = load_model(name).with_classes(['a', 'b'],
                                          exclusive_classes=False)
    assert not multi.exclusive_classes
    assert 'exclusive_classes' not in multi.settings


def test_a_crnn_file_trained_before_the_setting_reports_a_softmax(
        tmp_path, shipped_melgrams):
    """A fine-tuned CRNN saved by an earlier release: its settings lack
    ``exclusive_classes``, its file records the training run (always a
    softmax cross-entropy)."""
    net = load_model('crnn-msd', input_fill='loop').with_classes('gtzan')
    settings = dict(net.settings)
    del settings['exclusive_classes']
    old = tmp_path / 'old.npz'
    save_model_npz(old, net, {'arch': 'crnn', 'settings': settings,
                              'base': 'crnn-msd', 'name': None,
                              'training': {'data': 'gtzan'}})
    m = load_model(str(old))
    assert m.exclusive_classes
    np.testing.assert_allclose(m.predict(shipped_melgrams).sum(axis=1), 1,
                               rtol=1e-5)
    # Without a training run, a file is what its settings say.
    plain = tmp_path / 'plain.npz'
    save_model_npz(plain, net, {'arch': 'crnn', 'settings': settings,
                                'name': None})
    assert not load_model(str(plain)).exclusive_classes


def _scores(result, tags):
    got = {t['tag']: t['score'] for t in result['tags']}
    return np.array([got[t] for t in tags])


@pytest.fixture(params=['music2vec', 'crnn', 'probe'])
def trained_file(request):
    """A model file of each kind ``train`` makes (tiny runs, once per
    session)."""
    fixture = {'music2vec': 'trained', 'crnn': 'trained_crnn',
               'probe': 'probe'}[request.param]
    return request.getfixturevalue(fixture) / 'best_model.npz'


def test_every_command_reports_what_evaluate_computes(trained_file, tiny,
                                                      tmp_path, capsys):
    """tag, taggram, the library store and the ONNX export give a trained
    model's softmax: each clip's scores sum to 1 and are ``evaluate``'s
    probabilities of the same window; embed gives its features."""
    m = load_model(str(trained_file))
    clip = sorted((tiny / 'genres' / 'blues').iterdir())[0]

    def evaluated(window='centre', hop=None):
        """``evaluate``'s probabilities of the file's first window."""
        x, _ = open_input(clip, m.clip_input, window, hop).windows[0].read()
        # A batch of one: (1, samples), or (1, 1, 96, 1366) melgrams.
        x = x.reshape((1, 1) + x.shape[-2:]) if x.ndim > 1 else x[None]
        return x, clip_probabilities(m, m.logits, [x])[0]

    x, want = evaluated()
    assert want.sum() == pytest.approx(1, abs=1e-6)

    assert main(['tag', str(clip), '--model', str(trained_file),
                 '--format', 'json', '--no-progress']) == 0
    [result] = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(_scores(result, m.tags), want, rtol=1e-4,
                               atol=1e-6)
    assert m.exclusive_classes

    db = tmp_path / 'library.db'
    assert main(['tag', str(clip), '--model', str(trained_file), '--db',
                 str(db), '--format', 'json', '--no-progress']) == 0
    capsys.readouterr()
    with contextlib.closing(sqlite3.connect(str(db))) as conn:
        [(stored,)] = conn.execute('SELECT result FROM results').fetchall()
    np.testing.assert_allclose(_scores(json.loads(stored), m.tags), want,
                               rtol=1e-4, atol=1e-6)

    gram = tmp_path / 'taggram.json'
    assert main(['taggram', str(clip), '--model', str(trained_file),
                 '--hop', '0.5', '-o', str(gram)]) == 0
    windows = json.loads(gram.read_text())['windows']
    rows = np.array([[w['scores'][t] for t in m.tags] for w in windows])
    np.testing.assert_allclose(rows.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(rows[0], evaluated('full', 0.5)[1],
                               rtol=1e-4, atol=1e-6)

    onnx_path = tmp_path / 'model.onnx'
    assert main(['export', '--model', str(trained_file), '-o',
                 str(onnx_path)]) == 0
    session = onnxruntime.InferenceSession(
        str(onnx_path), providers=['CPUExecutionProvider'])
    [got] = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    # embed: the features before any output function, as extract gives.
    feats = tmp_path / 'feats.npy'
    assert main(['embed', str(clip), '--model', str(trained_file), '-o',
                 str(feats)]) == 0
    np.testing.assert_allclose(np.load(feats)[0], m.extract(x)[0],
                               rtol=1e-5, atol=1e-5)
