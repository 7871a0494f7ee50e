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
