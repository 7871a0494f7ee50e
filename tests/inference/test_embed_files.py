"""`chainer-tagger embed PATH... --model NAME`: features for every model."""
import json

import numpy as np
import pytest

import chainer_tagger
from chainer_tagger.audio import AudioSource
from chainer_tagger.audio.resample import resample
from chainer_tagger.cli import main

from conftest import AUDIO, SONGS

pytestmark = pytest.mark.shared


def soundnet_centre_rows(paths):
    """SoundNet8's rows for the centre 675,808 samples of each file, cut
    from the whole file resampled to 22,050 Hz (not the window reader)."""
    rows = []
    for path in paths:
        source = AudioSource(path)
        y = resample(source.read(), source.samplerate, 22050)
        start = (len(y) - 675808) // 2
        rows.append(y[start:start + 675808])
    return chainer_tagger.load_model('soundnet8').extract(np.stack(rows))


@pytest.mark.parametrize('model,dim', [('crnn-msd', 32), ('cnn-msd', 256),
                                       ('soundnet8', 401 * 8)])
def test_one_row_per_file_with_an_index(model, dim, tmp_path, capsys,
                                        keras1_scores):
    """Rows in the order of the files, each the file's features: for the
    taggers, the independent Keras-1 reference's features of the original
    melgrams (the CRNN's last GRU state; 4e-5 is what the 0.02 dB between
    our melgram and the original makes at most); for SoundNet, its output on
    the centre of the whole resampled file."""
    bad = tmp_path / 'bad.mp3'
    bad.write_text('not audio')
    out = tmp_path / 'features.npy'
    songs = ['bensound-cute', 'bensound-dubstep']
    paths = [str(AUDIO / (s + '.mp3')) for s in songs] + [str(bad)]
    assert main(['embed'] + paths + ['--model', model, '-o', str(out)]) == 1
    assert 'bad.mp3' in capsys.readouterr().err
    features = np.load(out)
    assert features.shape == (2, dim)
    index = json.loads((tmp_path / 'features.json').read_text())
    assert [r.get('row') for r in index] == [0, 1, None]
    assert index[1]['path'] == paths[1] and 'error' in index[2]
    if model == 'soundnet8':
        want = soundnet_centre_rows(paths[:2])
        np.testing.assert_allclose(features, want, rtol=1e-5, atol=1e-3)
    else:
        _, reference = keras1_scores(model)
        want = reference[[SONGS.index(s) for s in songs]]
        assert np.abs(features - want).max() <= 1e-4


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
    # Weighted by the real audio each window holds: the second window
    # (from 10 s) holds 21.8 s of the 31.8 s song.
    fractions = [1.0, (31.764898 - 10) / 29.12]
    np.testing.assert_allclose(
        np.load(tmp_path / 'a.npy'),
        np.average(windows, axis=0, weights=fractions)[None],
        rtol=1e-5, atol=1e-6)


def test_paths_or_data_not_both(tmp_path):
    assert main(['embed', '-o', str(tmp_path / 'x.npy')]) == 2


def test_output_name_is_kept_and_said(tmp_path, capsys):
    out = tmp_path / 'new' / 'feats.bin'
    assert main(['embed', str(AUDIO / 'bensound-cute.melgram.npy'), '-m',
                 'crnn-msd', '-o', str(out)]) == 0
    assert np.load(out).shape == (1, 32)  # NumPy .npy, under that name
    assert not (tmp_path / 'new' / 'feats.bin.npy').exists()
    said = capsys.readouterr().out
    assert said == 'wrote {} (NumPy .npy, 1 rows of 32) and {}\n'.format(
        out, tmp_path / 'new' / 'feats.json')


def test_data_folder_too_small_to_plot(tmp_path, capsys):
    import shutil
    from conftest import SHARED
    for genre in ('blues', 'jazz'):
        (tmp_path / 'genres' / genre).mkdir(parents=True)
        shutil.copy(SHARED / 'gtzan-mini' / 'genres' / genre /
                    '{}.00000.wav'.format(genre),
                    tmp_path / 'genres' / genre)
    out = tmp_path / 'emb.npy'
    assert main(['embed', '--data', str(tmp_path), '-o', str(out),
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert '2 readable clips; the PCA and t-SNE plots need at least 3' in err
    assert not out.exists()


def test_plots_label_their_axes_and_held_out_clips(tmp_path):
    """PC1/PC2 with the share of variance of each panel's own projection,
    hollow held-out clips; titles without doubled brackets."""
    from unittest import mock
    from chainer_tagger.inference import embedding_plot as ep
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(4), 5)
    before = rng.randn(20, 8) + labels[:, None]
    after = before * np.linspace(1, 3, 8)
    held = np.arange(20) % 5 == 0
    titles, xlabels = [], []
    real_figure = ep.embedding_figure

    def spy(panels, *args, **kwargs):
        xlabels.append([p[2][0] for p in panels])
        titles.append(args[2])
        return real_figure(panels, *args, **kwargs)
    with mock.patch.object(ep, 'embedding_figure', side_effect=spy):
        paths = ep.plot_embeddings_before_after(
            before, after, labels, list('abcd'), str(tmp_path / 'e'),
            'SoundNet embeddings', held_out=held)
    assert [p.split('/')[-1] for p in paths] == ['e_pca.png', 'e_tsne.png']
    pca = __import__('sklearn.decomposition').decomposition.PCA
    assert xlabels[0] == ['PC1 ({:.0f} % of variance)'.format(
        100 * pca(2).fit(x).explained_variance_ratio_[0])
        for x in (before, after)]
    assert xlabels[1] == ['t-SNE 1', 't-SNE 2'][:1] * 2
    assert titles == [
        'SoundNet embeddings: PCA (each panel projected on its own axes)',
        'SoundNet embeddings: t-SNE (each panel projected on its own axes)']
