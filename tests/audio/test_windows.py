"""Resampling as in 2016 and the windows of a signal: pure functions on
synthetic signals (no reference data needed)."""
import numpy as np
import pytest
import resampy
import soundfile as sf

from chainer_tagger.audio import AudioSource, load_audio, melgram
from chainer_tagger.audio.resample import _filter, kaiser_best_2016, resample
from chainer_tagger.audio.windows import (centre_window, fit_to_window,
                                          random_start, read_window,
                                          spread_starts, window_at,
                                          window_starts)
from chainer_tagger.configuration import MELGRAM_SAMPLES, N_FRAMES


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
    assert MELGRAM_SAMPLES == 349440 and N_FRAMES == 1366
    assert centre_window(349440 + 11) == (5, 5 + 349440)
    assert centre_window(1000) == (0, 1000)
    y = np.arange(10, dtype=np.float32)
    padded = fit_to_window(y)
    assert len(padded) == MELGRAM_SAMPLES and padded[9] == 9 and \
        not padded[10:].any()


def test_long_files_are_read_around_the_centre_only(ten_minute_flac,
                                                    read_lengths):
    """Memory stays bounded: a 10-minute file is decoded in a 30 s window."""
    path, sr = ten_minute_flac, 22050
    m = melgram(path)
    assert m.shape == (96, 1366) and np.isfinite(m).all()
    assert read_lengths and max(read_lengths) < 31 * sr


def test_window_starts():
    n = MELGRAM_SAMPLES
    assert window_starts(n) == [0]
    assert window_starts(n + 1, hop=10) == [0, 120000]
    assert window_starts(100) == [0]
    with pytest.raises(ValueError):
        window_starts(n, hop=0)


@pytest.mark.parametrize('rates', [(44100, 12000), (22050, 12000),
                                   (48000, 12000), (11025, 12000),
                                   (8000, 22050)])
def test_polyphase_resampling_equals_resampy(rates):
    sr_orig, sr_new = rates
    y = np.random.RandomState(1).uniform(-1, 1, sr_orig // 2 + 7).astype(
        np.float32)
    ours = resample(y, sr_orig, sr_new)
    theirs = resampy.resample(y, sr_orig, sr_new, filter=_filter)
    assert len(ours) == int(np.ceil(len(y) * sr_new / sr_orig))
    np.testing.assert_allclose(ours[:len(theirs)], theirs, atol=2e-6)


def test_window_at_loops_a_short_clip_or_pads_it_with_zeros():
    y = np.arange(1, 6, dtype=np.float32)  # 5 samples
    np.testing.assert_array_equal(window_at(y, 0, 12, 'loop'),
                                  [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2])
    np.testing.assert_array_equal(window_at(y, 3, 7, 'loop'),
                                  [4, 5, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(window_at(y, 3, 4, 'zeros'), [4, 5, 0, 0])
    # Inside the clip the fill does not matter.
    for fill in ('zeros', 'loop'):
        np.testing.assert_array_equal(window_at(y, 1, 3, fill), [2, 3, 4])


def test_spread_starts_cover_a_clip_evenly():
    # A long clip: windows inside it, first at 0, last ending at the end.
    assert spread_starts(100, 40, 4).tolist() == [0, 20, 40, 60]
    assert spread_starts(40, 40, 4).tolist() == [0]
    # A short looped clip: rotations evenly around the circle.
    assert spread_starts(10, 40, 4, 'loop').tolist() == [0, 2, 5, 7]
    assert spread_starts(3, 40, 8, 'loop').tolist() == [0, 1, 2]
    # A short clip padded with zeros has one window.
    assert spread_starts(10, 40, 4, 'zeros').tolist() == [0]


def test_random_start_stays_where_spread_starts_may_go():
    rng = np.random.RandomState(0)
    long_clip = {random_start(100, 40, 'loop', rng) for _ in range(500)}
    assert min(long_clip) == 0 and max(long_clip) == 60
    short = {random_start(10, 40, 'loop', rng) for _ in range(500)}
    assert short == set(range(10))
    assert {random_start(10, 40, 'zeros', rng) for _ in range(20)} == {0}


@pytest.mark.parametrize('sr', [22050, 12000])
def test_looped_window_read_from_a_file_equals_the_decoded_clip_looped(
        tmp_path, sr):
    """The window ``tag`` reads from a short file (resampled around the
    window only, the file's start read again for the loop) is the window
    training cuts from the whole decoded clip."""
    t = np.arange(int(2.3 * 44100)) / 44100
    path = tmp_path / 'short.wav'
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t) * np.exp(-t))
             .astype(np.float32), 44100)
    whole = load_audio(path, sr=sr)[0]
    source = AudioSource(path)
    n = 5 * sr + 17
    for start in (0, 1234):
        np.testing.assert_allclose(
            read_window(source, start, n, sr, 'loop'),
            window_at(whole, start, n, 'loop'), atol=1e-6)
