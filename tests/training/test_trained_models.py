"""Trained models are models like the registry's: the linear probe is
scikit-learn's logistic regression stored as arrays, and every trained
model file works with tag, taggram, embed, evaluate and export."""
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from chainer_tagger.cli import main
from chainer_tagger.configuration import PROBE_C
from chainer_tagger.models import LinearProbe, SoundNet8, load_model
from chainer_tagger.pretrained.model_file import open_npz
from chainer_tagger.training import evaluate

from trained_runs import WINDOWS, looped_windows

pytestmark = pytest.mark.shared


def _clips(tiny, report):
    """(path, genre) of every clip, in the dataset's order."""
    return sorted((p, p.parent.name) for p in
                  (tiny / 'genres').glob('*/*.wav'))


def test_probe_is_scikit_learns_logistic_regression(probe, tiny):
    """The probe's linear layer is the logistic regression scikit-learn
    fits here on SoundNet features of windows cut without the package
    (2 per training clip, each clip weighing 1), standardized."""
    model = load_model(str(probe / 'best_model.npz'))
    assert isinstance(model, LinearProbe) and model.exclusive_classes
    meta = json.loads(str(np.load(probe / 'best_model.npz')['_meta']))
    assert meta['arch'] == 'probe' and meta['training']['n_test'] == 2
    report = evaluate(str(probe / 'best_model.npz'), str(tiny),
                      progress=False)
    held_out = set(report['clips'])
    soundnet = SoundNet8(pretrained_model='soundnet8')
    n = soundnet.clip_input.n_samples
    features, labels, rows = [], [], {}
    for path, genre in _clips(tiny, report):
        rows[str(path)] = soundnet.extract(looped_windows(path, n))
        if str(path) not in held_out:
            features.append(rows[str(path)])
            labels += [model.tags.index(genre)] * WINDOWS
    features = np.concatenate(features)
    scaler = StandardScaler().fit(features)
    lr = LogisticRegression(C=PROBE_C, max_iter=2000).fit(
        scaler.transform(features), labels,
        sample_weight=np.full(len(labels), 1 / WINDOWS))
    # Two genres: scikit-learn fits one weight vector; the probe holds the
    # same decision as a softmax over the two classes.
    w = model.output.W.array
    np.testing.assert_allclose(w[1] - w[0], lr.coef_[0], rtol=1e-3,
                               atol=1e-6)
    np.testing.assert_allclose(model.feature_mean, scaler.mean_, rtol=1e-4,
                               atol=1e-4)
    for path in held_out:
        want = lr.predict_proba(scaler.transform(rows[path])).mean(axis=0)
        got = model.predict(looped_windows(path, n)).mean(axis=0)
        np.testing.assert_allclose(got[[0, 1]], want, rtol=1e-3, atol=1e-5)
    log = json.loads((probe / 'log').read_text())
    assert log[0]['validation/main/accuracy'] == report['accuracy']
    assert log[0]['validation/main/loss'] == pytest.approx(report['loss'],
                                                           rel=1e-5)


def test_probe_file_holds_plain_arrays(probe):
    with open_npz(probe / 'best_model.npz') as npz:  # refuses pickles
        assert 'output/W' in npz and 'feature_model/conv1/W' in npz
        assert npz['output/W'].dtype == np.float32


def test_trained_music2vec_tags_centre_and_whole_file_windows(trained,
                                                              tiny, capsys):
    clip = sorted((tiny / 'genres' / 'blues').iterdir())[0]
    model = str(trained / 'best_model.npz')
    for extra in ([], ['--window', 'full', '--hop', '1']):
        assert main(['tag', str(clip), '--model', model, '--format', 'json',
                     '--no-progress'] + extra) == 0
        [result] = json.loads(capsys.readouterr().out)
        assert [t['tag'] for t in result['tags']][0] == 'blues'
        assert sum(t['score'] for t in result['tags']) == pytest.approx(
            1, abs=1e-5)
    # The centre window of the 2 s clip is the clip looped, as in training.
    m = load_model(model)
    assert m.clip_input.fill == 'loop'
    direct = m.predict(looped_windows(clip, m.clip_input.n_samples, 1))[0]
    assert main(['tag', str(clip), '--model', model, '--format', 'json',
                 '--no-progress']) == 0
    [result] = json.loads(capsys.readouterr().out)
    got = {t['tag']: t['score'] for t in result['tags']}
    np.testing.assert_allclose([got[t] for t in m.tags], direct, rtol=1e-4,
                               atol=1e-6)


def test_trained_models_work_with_taggram_embed_and_the_probe_with_tag(
        trained, probe, tiny, tmp_path, capsys):
    clip = sorted((tiny / 'genres' / 'classical').iterdir())[0]
    png = tmp_path / 'taggram.png'
    assert main(['taggram', str(clip), '--model',
                 str(trained / 'best_model.npz'), '--hop', '0.5', '-o',
                 str(png)]) == 0
    assert png.stat().st_size > 1000
    feats = tmp_path / 'feats.npy'
    assert main(['embed', str(clip), '--model',
                 str(trained / 'best_model.npz'), '-o', str(feats)]) == 0
    assert np.load(feats).shape == (1, 401 * 8)
    capsys.readouterr()
    assert main(['tag', str(clip), '--model', str(probe / 'best_model.npz'),
                 '--format', 'json', '--no-progress']) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result['tags'][0]['tag'] == 'classical'


def test_a_model_without_classes_cannot_tag(tiny, capsys):
    clip = sorted((tiny / 'genres' / 'blues').iterdir())[0]
    assert main(['tag', str(clip), '--model', 'soundnet8',
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert 'no class output' in err and 'chainer-tagger embed' in err

