"""`chainer-tagger embed PATH... --model NAME`: features for every model."""
import json

import numpy as np
import pytest

import chainer_tagger
from chainer_tagger.cli import main

from conftest import AUDIO

pytestmark = pytest.mark.shared


@pytest.mark.parametrize('model,dim', [('crnn-msd', 32), ('cnn-msd', 256),
                                       ('soundnet8', 401 * 8)])
def test_one_row_per_file_with_an_index(model, dim, tmp_path, capsys):
    bad = tmp_path / 'bad.mp3'
    bad.write_text('not audio')
    out = tmp_path / 'features.npy'
    paths = [str(AUDIO / 'bensound-cute.mp3'),
             str(AUDIO / 'bensound-dubstep.mp3'), str(bad)]
    assert main(['embed'] + paths + ['--model', model, '-o', str(out)]) == 1
    assert 'bad.mp3' in capsys.readouterr().err
    features = np.load(out)
    assert features.shape == (2, dim) and np.isfinite(features).all()
    index = json.loads((tmp_path / 'features.json').read_text())
    assert [r.get('row') for r in index] == [0, 1, None]
    assert index[1]['path'] == paths[1] and 'error' in index[2]
    if model == 'crnn-msd':
        m = chainer_tagger.load_model('crnn-msd')
        want = m.extract(chainer_tagger.melgram(paths[0]))
        np.testing.assert_allclose(features[:1], want, atol=1e-5)


def test_full_windows_and_aggregate(tmp_path):
    song = str(AUDIO / 'bensound-actionable.mp3')  # 32 s: 2 windows
    assert main(['embed', song, '--model', 'cnn-msd', '--window', 'full',
                 '--hop', '10', '-o', str(tmp_path / 'w.npy')]) == 0
    windows = np.load(tmp_path / 'w.npy')
    index = json.loads((tmp_path / 'w.json').read_text())
    assert windows.shape == (2, 256)
    assert [r['start'] for r in index] == [0.0, 10.0]
    assert main(['embed', song, '--model', 'cnn-msd', '--window', 'full',
                 '--hop', '10', '--aggregate', 'mean', '-o',
                 str(tmp_path / 'a.npy')]) == 0
    np.testing.assert_allclose(np.load(tmp_path / 'a.npy'),
                               windows.mean(axis=0, keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_paths_or_data_not_both(tmp_path):
    assert main(['embed', '-o', str(tmp_path / 'x.npy')]) == 2
