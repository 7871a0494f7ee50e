"""Whole-song analysis: sliding windows, aggregation, the taggram."""
import json

import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio import AudioSource, window_melgram
from chainer_tagger.audio.windows import centre_window
from chainer_tagger.cli import main

from conftest import AUDIO

pytestmark = pytest.mark.shared


@pytest.fixture(scope='module')
def medley(tmp_path_factory):
    """jazz piano, then the rock song, as one 62 s flac."""
    a, sr = sf.read(AUDIO / 'bensound-thejazzpiano.wav', dtype='float32')
    b, _ = sf.read(AUDIO / 'bensound-actionable.wav', dtype='float32')
    path = tmp_path_factory.mktemp('songs') / 'medley.flac'
    sf.write(path, np.concatenate([a, b]), sr)
    return path


def test_centre_window_is_the_classic_melgram():
    """The window machinery at the centre gives the original
    preprocessing's output (the shipped .npy), to the pinned 0.02 dB: its
    start is Choi's ``(n - 349440) // 2`` of the 12 kHz length (librosa's
    ``ceil``), to the sample (one sample off is 9 dB off somewhere)."""
    path = AUDIO / 'bensound-cute.mp3'
    source = AudioSource(path)
    n = int(np.ceil(source.n_samples * 12000 / source.samplerate))
    start, stop = centre_window(n)
    assert (start, stop - start) == ((n - 349440) // 2, 349440)
    original = np.load(AUDIO / 'bensound-cute.melgram.npy')[0, 0]
    diff = np.abs(window_melgram(source, start) - original)
    assert diff.mean() <= 0.0003 and diff.max() <= 0.02
    assert np.abs(window_melgram(source, start + 1) - original).max() > 1


def test_taggram_json_and_aggregates(medley, tmp_path, capsys):
    out = tmp_path / 'taggram.json'
    assert main(['taggram', str(medley), '--model', 'crnn-gtzan', '--hop',
                 '10', '--format', 'json', '-o', str(out)]) == 0
    doc = json.loads(out.read_text())
    starts = [w['start'] for w in doc['windows']]
    assert starts == [0.0, 10.0, 20.0, 30.0, 40.0]
    scores = np.array([[w['scores'][t] for t in sorted(w['scores'])]
                       for w in doc['windows']])
    tags = sorted(doc['windows'][0]['scores'])
    # The jazz piano comes first, the rock song last.
    first = doc['windows'][0]['scores']
    last = doc['windows'][-1]['scores']
    assert first['jazz'] > last['jazz']
    assert last['rock'] > first['rock']
    capsys.readouterr()
    fractions = np.array([w['audio_fraction'] for w in doc['windows']])
    # 63.8 s of audio: the last window (from 40 s) holds 23.8 s of it.
    assert doc['duration'] == pytest.approx(63.817, abs=1e-3)
    np.testing.assert_allclose(fractions, [1, 1, 1, 1, (63.817 - 40) / 29.12],
                               atol=1e-3)
    for how, want in (
            ('mean', np.average(scores, axis=0, weights=fractions)),
            ('max', scores[fractions >= 0.5].max(axis=0))):
        assert main(['tag', str(medley), '--model', 'crnn-gtzan',
                     '--window', 'full', '--hop', '10', '--aggregate', how,
                     '--format', 'json', '--no-progress']) == 0
        result = json.loads(capsys.readouterr().out)[0]
        assert (result['windows'], result['hop'], result['aggregate']) == \
            (5, 10.0, how)
        got = {t['tag']: t['score'] for t in result['tags']}
        want = dict(zip(tags, want))
        assert max(abs(got[t] - want[t]) for t in tags) < 1e-6


def test_taggram_png(medley, tmp_path):
    """The picture: song time on the x axis, the padded window hatched."""
    out = tmp_path / 'taggram.png'
    assert main(['taggram', str(medley), '-o', str(out), '--top', '5']) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_windows_are_read_one_at_a_time(ten_minute_flac, read_lengths):
    """Memory stays bounded: a 10-minute file is read window by window."""
    path, sr = ten_minute_flac, 22050
    assert main(['tag', str(path), '--window', 'full', '--no-progress',
                 '--format', 'json']) == 0
    assert len(read_lengths) == 21  # 600 s in 29.12 s windows
    assert max(read_lengths) < 31 * sr


def test_full_window_rejects_melgram_npy(capsys):
    assert main(['tag', str(AUDIO / 'bensound-cute.melgram.npy'),
                 '--window', 'full', '--no-progress']) == 1
    assert 'needs audio' in capsys.readouterr().err


def test_padded_last_window_no_longer_outweighs_the_song(model):
    """bensound-cute: a 2.3 s window with 26.8 s of zeros counted like the
    full first one lifted crnn-gtzan's 'classical' from 0.010 to 0.107."""
    from chainer_tagger import tag
    from chainer_tagger.inference import tag_windows
    song = AUDIO / 'bensound-cute.mp3'
    w = tag_windows(model('crnn-gtzan'), song)
    classical = list(model('crnn-gtzan').tags).index('classical')
    np.testing.assert_allclose(w.audio_fractions, [1.0, 0.0738], atol=1e-4)
    first, padded = w.scores[:, classical]
    assert first < 0.02 and padded > 0.15  # the padding scores "classical"
    [r] = tag(song, model=model('crnn-gtzan'), window='full')
    got = {t['tag']: t['score'] for t in r['tags']}
    assert got['classical'] == pytest.approx(
        (first + w.audio_fractions[1] * padded) /
        (1 + w.audio_fractions[1]), rel=1e-5)
    assert got['classical'] < 0.03 < (first + padded) / 2


def test_taggram_cells_follow_the_song():
    from chainer_tagger.inference.taggram import window_cells
    # A 32.5 s song: hop 2 gives windows at 0, 2, 4 that cover 0-32.5 s.
    lo, hi = window_cells([0, 2, 4], 29.12, 32.5)
    np.testing.assert_allclose(lo, [0, 15.56, 17.56])
    np.testing.assert_allclose(hi, [15.56, 17.56, 32.5])
    # The default hop: the last window ends with the song, not at 58 s.
    lo, hi = window_cells([0, 29.12], 29.12, 32.5)
    np.testing.assert_allclose([lo, hi], [[0, 29.12], [29.12, 32.5]])
    # A hop longer than the window leaves the unanalysed time blank.
    lo, hi = window_cells([0, 60], 29.12, 80.0)
    np.testing.assert_allclose([lo, hi], [[0, 60], [29.12, 80]])


def test_taggram_format_from_extension_folders_and_progress(medley, tmp_path,
                                                            capsys):
    out = tmp_path / 'new' / 'deeper' / 'taggram.json'
    assert main(['taggram', str(medley), '-m', 'crnn-gtzan', '--hop', '20',
                 '-o', str(out), '--progress']) == 0
    doc = json.loads(out.read_text())
    assert [round(w['start']) for w in doc['windows']] == [0, 20, 40]
    assert doc['hop'] == 20.0 and doc['window_seconds'] == 29.12
    err = capsys.readouterr().err
    assert 'taggram' in err and '3/3' in err and '\x1b[' not in err
    svg = tmp_path / 'other' / 'taggram.svg'
    assert main(['taggram', str(medley), '-m', 'crnn-gtzan', '-o', str(svg),
                 '--no-progress']) == 0
    assert svg.read_text().lstrip().startswith('<?xml')
    assert main(['taggram', str(medley), '-o', str(tmp_path / 'x.bin'),
                 '--no-progress']) == 2
    assert "cannot draw a taggram as 'bin'" in capsys.readouterr().err
    assert main(['taggram', str(medley), '-o', str(tmp_path)]) == 2
    assert 'is a folder' in capsys.readouterr().err


def test_whole_file_progress_counts_windows(medley, capsys):
    assert main(['tag', str(medley), '--window', 'full', '--hop', '10',
                 '-m', 'cnn-msd', '-f', 'json', '--progress']) == 0
    captured = capsys.readouterr()
    assert 'tagging windows' in captured.err and '5/5' in captured.err
    assert json.loads(captured.out)[0]['windows'] == 5
