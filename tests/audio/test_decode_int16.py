"""MP3s read as libsndfile's floats and converted to int16 here (faster
than libsndfile's own conversion) give exactly its integers."""
import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio.decode import AudioSource, _read_int16

from conftest import AUDIO, SONGS

pytestmark = pytest.mark.shared


@pytest.mark.parametrize('song', SONGS)
def test_int16_equals_libsndfiles_conversion(song):
    """Every sample, the clipped ones of a loud song (dubstep peaks at 1.11
    of full scale) included."""
    path = AUDIO / (song + '.mp3')
    want, _ = sf.read(path, dtype='int16', always_2d=True)
    with sf.SoundFile(path) as f:
        got = _read_int16(f, len(want) + 10)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, want)


def test_windows_read_around_equal_the_kept_samples():
    """A long file's window is decoded again around it: the same int16
    conversion there."""
    path = AUDIO / 'bensound-cute.mp3'
    kept = AudioSource(path)
    streamed = AudioSource(path)
    streamed._decoded = None
    want, _ = sf.read(path, dtype='int16')
    np.testing.assert_array_equal(
        kept.read(0, 200000)[:1000],
        want[529:1529].astype(np.float32) / 32768)
    np.testing.assert_allclose(streamed.read(100000, 400000),
                               kept.read(100000, 400000), atol=1 / 32768)
