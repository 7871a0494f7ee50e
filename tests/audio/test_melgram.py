"""Choi's mel-spectrogram from audio files, against the original
preprocessing's output shipped in ../shared/audio/*.melgram.npy."""
import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio import (MP3_DECODER_DELAY, AudioSource, melgram,
                                  window_melgram)
from chainer_tagger.audio.resample import resample
from chainer_tagger.audio.windows import centre_window, read_resampled
from chainer_tagger.configuration import MELGRAM_SR

from conftest import AUDIO, SHARED, SONGS

pytestmark = pytest.mark.shared


@pytest.fixture(scope='module')
def computed():
    return {s: melgram(AUDIO / (s + '.mp3')) for s in SONGS}


def test_melgram_matches_the_original_preprocessing(computed):
    """Pinned: measured mean <= 0.00026 dB, max <= 0.019 dB (README)."""
    worst_mean, worst_max = 0.0, 0.0
    for song, m in computed.items():
        ref = np.load(AUDIO / (song + '.melgram.npy'))[0, 0]
        assert m.shape == ref.shape == (96, 1366) and m.dtype == np.float32
        d = np.abs(m - ref)
        worst_mean, worst_max = max(worst_mean, d.mean()), max(worst_max,
                                                               d.max())
    assert worst_mean <= 0.0003
    assert worst_max <= 0.02


def test_scores_from_mp3_match_published_scores(computed, model,
                                                reference):
    """Pinned: from the mp3 files, every published score to the printed
    digit and the same top-10 (README)."""
    crnn = model('crnn-msd')
    scores = crnn.predict(np.stack([computed[s] for s in SONGS]))
    for song, s in zip(SONGS, scores):
        published = reference['songs'][song]
        for tag, value in published:
            assert abs(s[crnn.tags.index(tag)] - value) <= 0.0005
        top10 = [crnn.tags[i] for i in np.argsort(-s)[:10]]
        assert top10 == [t for t, _ in published]


def test_decoder_delay_kept_delivers_the_same_samples_529_later():
    """--decoder-delay keep: what 2016 decoders without gapless
    information gave (some published tables were computed from it)."""
    mp3 = AUDIO / 'bensound-cute.mp3'
    removed, kept = AudioSource(mp3), AudioSource(mp3, decoder_delay='keep')
    assert kept.n_samples == removed.n_samples
    a, b = removed.read(), kept.read()
    np.testing.assert_array_equal(b[MP3_DECODER_DELAY:],
                                  a[:-MP3_DECODER_DELAY])
    assert np.abs(a[:10000] - b[:10000]).max() > 0.01
    # Read around a window, as for long files, it is the same.
    np.testing.assert_array_equal(kept.read(5000, 9000), b[5000:9000])
    kept._decoded = None
    np.testing.assert_array_equal(kept.read(5000, 9000), b[5000:9000])
    # No delay in other formats.
    wav = AUDIO / 'bensound-thejazzpiano.wav'
    np.testing.assert_array_equal(AudioSource(wav, 'keep').read(),
                                  AudioSource(wav).read())


def test_windowed_read_equals_resampling_the_whole_file():
    path = AUDIO / 'bensound-thejazzpiano.wav'
    source = AudioSource(path)
    whole = resample(source.read(), source.samplerate, MELGRAM_SR)
    start, stop = centre_window(len(whole))
    window = read_resampled(source, start, stop)
    np.testing.assert_allclose(window, whole[start:stop], atol=1e-6)


def test_stereo_is_averaged(tmp_path):
    y, sr = sf.read(SHARED / 'gtzan-mini' / 'genres' / 'jazz' /
                    'jazz.00000.wav', dtype='float32')
    sf.write(tmp_path / 'stereo.wav', np.stack([y, 0.5 * y], axis=1), sr,
             subtype='FLOAT')
    sf.write(tmp_path / 'mono.wav', 0.75 * y, sr, subtype='FLOAT')
    np.testing.assert_allclose(melgram(tmp_path / 'stereo.wav'),
                               melgram(tmp_path / 'mono.wav'), atol=1e-3)


def test_long_mp3_is_decoded_again_around_the_window(monkeypatch):
    """An MP3 over the keep limit is not held in memory; reading its window
    again gives the same samples up to one 16-bit step (libsndfile's int16
    rounding differs by 1 LSB here and there between the two read paths)
    and the same melgram to 1e-3 dB."""
    path = AUDIO / 'bensound-cute.mp3'
    kept = AudioSource(path)
    assert kept._decoded is not None
    monkeypatch.setattr(AudioSource, 'KEEP_DECODED_SECONDS', 10)
    streamed = AudioSource(path)
    assert streamed._decoded is None
    assert streamed.n_samples == kept.n_samples
    np.testing.assert_allclose(streamed.read(100000, 400000),
                               kept.read(100000, 400000), atol=1 / 32768)
    start = centre_window(kept.length_at(MELGRAM_SR))[0]
    np.testing.assert_allclose(melgram(path),
                               window_melgram(kept, start), atol=1e-3)
