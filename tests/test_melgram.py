"""Choi's mel-spectrogram from audio files, against the original
preprocessing's output shipped in ../shared/audio/*.melgram.npy."""
import numpy as np
import pytest
import soundfile as sf

from chainer_tagger import features as mg
from chainer_tagger.audio import AudioSource
from chainer_tagger.resample import kaiser_best_2016, resample

from conftest import AUDIO, SHARED, SONGS


@pytest.fixture(scope='module')
def computed():
    return {s: mg.melgram(AUDIO / (s + '.mp3')) for s in SONGS}


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


def test_resampler_table_is_resampy_0_1_4_kaiser_best():
    window, precision, rolloff = kaiser_best_2016()
    assert window.shape == (64 * 512 + 1,) and precision == 512
    assert rolloff == pytest.approx(0.9475937167399596)
    # Known values of the shipped table (resampy 0.1.4 data/kaiser_best.npz).
    np.testing.assert_allclose(
        window[[1000, 20000]], [-0.07315044040130263, -2.0573706144215317e-05],
        rtol=1e-12)
    assert window[0] == pytest.approx(0.9475937167399596, rel=1e-15)
    assert abs(window[-1]) < 1e-7


def test_resample_length_is_librosa_2016():
    y = np.random.RandomState(0).normal(size=44101).astype(np.float32)
    out = resample(y, 44100, 12000)
    assert len(out) == int(np.ceil(44101 * 12000 / 44100))
    assert out.dtype == np.float32


def test_centre_window_and_padding():
    assert mg.N_SAMPLES == 349440 and mg.N_FRAMES == 1366
    assert mg.centre_window(349440 + 11) == (5, 5 + 349440)
    assert mg.centre_window(1000) == (0, 1000)
    y = np.arange(10, dtype=np.float32)
    padded = mg.fit_to_window(y)
    assert len(padded) == mg.N_SAMPLES and padded[9] == 9 and \
        not padded[10:].any()


def test_windowed_read_equals_resampling_the_whole_file():
    path = AUDIO / 'bensound-thejazzpiano.wav'
    source = AudioSource(path)
    whole = resample(source.read(), source.samplerate, mg.SR)
    start, stop = mg.centre_window(len(whole))
    window = mg.read_resampled(source, start, stop)
    np.testing.assert_allclose(window, whole[start:stop], atol=1e-6)


def test_long_files_are_read_around_the_centre_only(ten_minute_flac,
                                                    read_lengths):
    """Memory stays bounded: a 10-minute file is decoded in a 30 s window."""
    path, sr = ten_minute_flac, 22050
    m = mg.melgram(path)
    assert m.shape == (96, 1366) and np.isfinite(m).all()
    assert read_lengths and max(read_lengths) < 31 * sr


def test_stereo_is_averaged(tmp_path):
    y, sr = sf.read(SHARED / 'gtzan-mini' / 'genres' / 'jazz' /
                    'jazz.00000.wav', dtype='float32')
    sf.write(tmp_path / 'stereo.wav', np.stack([y, 0.5 * y], axis=1), sr,
             subtype='FLOAT')
    sf.write(tmp_path / 'mono.wav', 0.75 * y, sr, subtype='FLOAT')
    np.testing.assert_allclose(mg.melgram(tmp_path / 'stereo.wav'),
                               mg.melgram(tmp_path / 'mono.wav'), atol=1e-3)


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
    start = mg.centre_window(kept.length_at(mg.SR))[0]
    np.testing.assert_allclose(mg.melgram(path),
                               mg.window_melgram(kept, start), atol=1e-3)
