"""What mutation testing of ``audio/melgram.py`` found untested: the
windows over a whole file (their times and contents) and the default
decoder-delay setting, on synthetic files (no reference data)."""
import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio.melgram import log_melgram, melgram, melgram_windows
from chainer_tagger.configuration import MELGRAM_SAMPLES, MELGRAM_SR


@pytest.fixture(scope='module')
def noise_12k(tmp_path_factory):
    """45 s of coloured noise at 12 kHz (no resampling), as float32 wav."""
    rng = np.random.RandomState(0)
    y = np.cumsum(rng.uniform(-1, 1, 45 * MELGRAM_SR)).astype(np.float32)
    y = (0.5 * y / np.abs(y).max()).astype(np.float32)
    path = tmp_path_factory.mktemp('melgram') / 'noise.wav'
    sf.write(path, y, MELGRAM_SR, subtype='FLOAT')
    return path, y


def test_windows_over_a_file_start_every_hop_seconds(noise_12k):
    """``melgram_windows`` yields each window's start in seconds (samples
    over the 12 kHz rate) and the melgram of exactly that window's
    samples, the last ones zero-padded; the default decoder delay is a
    valid setting.  With a hop under half a window, windows come while
    their centre is inside the file: the one at 30 s (centre 44.56 s of
    45 s) too."""
    path, y = noise_12k
    windows = list(melgram_windows(path, hop=10.0))
    assert [t for t, _ in windows] == [0.0, 10.0, 20.0, 30.0]
    for t, m in windows:
        start = int(t * MELGRAM_SR)
        want = np.zeros(MELGRAM_SAMPLES, np.float32)
        part = y[start:start + MELGRAM_SAMPLES]
        want[:len(part)] = part
        np.testing.assert_allclose(m, log_melgram(want), atol=1e-4)


def test_default_decoder_delay_is_valid_and_centres_the_window(noise_12k):
    """``melgram(path)`` with its default setting is the melgram of the
    centred 29.12 s of the file."""
    path, y = noise_12k
    start = (len(y) - MELGRAM_SAMPLES) // 2
    np.testing.assert_allclose(
        melgram(path), log_melgram(y[start:start + MELGRAM_SAMPLES]),
        atol=1e-4)


def test_silence_is_minus_100_db():
    """Digital silence is ``10 log10(amin)`` with old librosa's ``amin``
    1e-10 everywhere (the 80 dB floor is relative to a peak that is itself
    at the floor), as Choi's preprocessing gave it."""
    m = log_melgram(np.zeros(MELGRAM_SAMPLES, np.float32))
    assert m.shape == (96, 1366)
    np.testing.assert_array_equal(m, -100.0)
