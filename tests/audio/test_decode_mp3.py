"""Decoding MP3s: a file tagged on its centre window alone is decoded only
there and at its end (``AudioSource(whole=False)``), with the length and
the scores of decoding it whole; files with a LAME header read in blocks
and after seeks as in one read."""
import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio import open_input
from chainer_tagger.audio.decode import AudioSource
from chainer_tagger.configuration import READ_BLOCK_SAMPLES
from chainer_tagger.errors import AudioDecodeError
from chainer_tagger.audio.windows import centre_window
from chainer_tagger.inference import tag

from conftest import AUDIO, SONGS

pytestmark = pytest.mark.shared


@pytest.fixture(autouse=True)
def window_only_for_short_files(monkeypatch):
    """The Bensound mp3s (32 s) are decoded whole by default
    (``WINDOW_ONLY_FROM_SECONDS``); here they stand for long files."""
    monkeypatch.setattr(AudioSource, 'WINDOW_ONLY_FROM_SECONDS', 0)


def test_files_under_40_seconds_are_decoded_whole(monkeypatch):
    monkeypatch.undo()
    path = AUDIO / 'bensound-cute.mp3'
    assert not AudioSource(path, whole=False).length_from_end
    monkeypatch.setattr(AudioSource, 'WINDOW_ONLY_FROM_SECONDS', 30)
    assert AudioSource(path, whole=False).length_from_end


def _refused(what):
    """A replacement method that fails the test: ``what`` was not to
    happen."""
    def method(source, *args):
        raise AssertionError('{}: {}'.format(source.path, what))
    return method


_refuse_whole_decoding = _refused('decoded whole')


@pytest.mark.parametrize('song', SONGS)
def test_length_from_the_end_is_the_decoded_length(song):
    """libsndfile's estimate is 1.4 % long on these files (no Xing
    header); decoding from a little before it finds the real end."""
    path = AUDIO / (song + '.mp3')
    whole = AudioSource(path)
    window_only = AudioSource(path, whole=False)
    assert window_only.length_from_end and not whole.length_from_end
    assert sf.info(str(path)).frames > whole.n_samples
    assert window_only.n_samples == whole.n_samples
    assert window_only.expected_samples == whole.expected_samples
    assert window_only._decoded is None


def test_estimates_past_the_end_fall_back_to_a_wider_search_or_a_count():
    path = AUDIO / 'bensound-cute.mp3'
    source = AudioSource(path, whole=False)
    n, estimate = source.n_samples, source.expected_samples
    assert source._length_from_end(estimate) == n
    # Starting 0.1 % back lands past the end (libmpg123 then decodes
    # nothing): the next share is tried.
    source.END_SEARCH_BACK = (0.001, 1 / 4)
    assert source._length_from_end(estimate) == n
    source.END_SEARCH_BACK = (0.001,)
    assert source._length_from_end(estimate) is None
    # Past libsndfile's estimate it refuses to seek.
    source.END_SEARCH_BACK = (1 / 32,)
    assert source._length_from_end(2 * n) is None
    # Estimates shorter than the file: decoding from there reaches the end.
    assert source._length_from_end(n // 2) == n
    assert source._length_from_end(1) == n


def test_an_estimate_the_file_cannot_hold_decodes_it_whole(monkeypatch):
    """A damaged header's absurd length is not searched from."""
    path = AUDIO / 'bensound-cute.mp3'
    n = AudioSource(path).n_samples
    real_info = sf.info

    class Info:
        def __init__(self, info):
            self.__dict__.update(vars(info))
            self.frames = 2 ** 62

    monkeypatch.setattr(sf, 'info', lambda f: Info(real_info(f)))
    monkeypatch.setattr(AudioSource, '_length_from_end',
                        _refused('its end searched'))
    source = AudioSource(path, whole=False)
    assert not source.length_from_end
    assert source.n_samples == n


@pytest.mark.parametrize('song', SONGS)
def test_the_window_read_after_a_seek_is_the_whole_decodes(song,
                                                           monkeypatch):
    """The melgram within 1e-3 dB (libmpg123's float sums after a seek
    differ by one 16-bit step on a few samples in ten thousand), and the
    file never decoded whole."""
    path = AUDIO / (song + '.mp3')
    want, _ = open_input(path).windows[0].read()
    monkeypatch.setattr(AudioSource, '_count', _refuse_whole_decoding)
    window_only = open_input(path, whole=False)
    got, _ = window_only.windows[0].read()
    assert window_only.source.length_from_end
    assert window_only.warnings == []
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_tag_decodes_only_the_window_with_the_same_scores(model,
                                                          monkeypatch):
    """The scores of ``tag`` agree with those of the whole decode to
    1e-5, and no file is decoded whole."""
    crnn = model('crnn-msd')
    files = [AUDIO / (s + '.mp3') for s in SONGS]
    whole = [open_input(f).windows[0].read()[0] for f in files]
    want = crnn.predict(np.stack(whole), batch_size=len(files))
    monkeypatch.setattr(AudioSource, '_count', _refuse_whole_decoding)
    got = tag(files, model=crnn)
    for r, w in zip(got, want):
        assert r['warnings'] == []
        scores = {t['tag']: t['score'] for t in r['tags']}
        np.testing.assert_allclose([scores[t] for t in crnn.tags], w,
                                   atol=1e-5)


def test_damage_inside_the_window_is_decoded_whole_with_its_warning(
        model, tmp_path):
    """Zeros over 20 kB in the middle: the end is found past them, the
    window's decoding fails there, and the file is then decoded whole,
    which keeps what decodes before the damage and says so (a failed file
    before the fallback)."""
    mp3 = (AUDIO / 'bensound-cute.mp3').read_bytes()
    half = len(mp3) // 2
    path = tmp_path / 'zeros.mp3'
    path.write_bytes(mp3[:half] + bytes(20000) + mp3[half + 20000:])
    assert AudioSource(path, whole=False).length_from_end
    [r] = tag([path], model=model('crnn-msd'))
    assert 'error' not in r
    assert r['warnings'][0].startswith(
        'decoding stopped at 14.9 s of 31.7 s (decoder error')


@pytest.fixture(scope='module', params=[1, 2], ids=['mono', 'stereo'])
def lame_mp3(tmp_path_factory, request):
    """A minute of a chord with a tremolo, encoded by libsndfile's LAME:
    unlike the Bensound files (mono, without it), it carries a LAME header
    (gapless information), as most MP3s that LAME made do."""
    sr = 44100
    t = np.arange(60 * sr) / sr
    y = 0.2 * sum(np.sin(2 * np.pi * f0 * t) for f0 in (220, 277, 330))
    y *= 1 + 0.5 * np.sin(2 * np.pi * 0.3 * t)
    if request.param == 2:
        y = np.stack([y, np.roll(y, 1000)], axis=1)
    path = tmp_path_factory.mktemp('lame') / 'chord.mp3'
    sf.write(path, y.astype(np.float32), sr, format='MP3')
    assert sf.info(str(path)).channels == request.param
    return path


def test_a_lame_mp3_decoded_in_blocks_equals_one_read(lame_mp3):
    """python-soundfile seeks to the end of each read, and libmpg123 then
    restarted decoding a LAME file there: every block of 65,536 samples
    began with silence and wrong samples (4 % of the file)."""
    want, _ = sf.read(lame_mp3, dtype='int16', always_2d=True)
    want = (want / np.float32(32768)).mean(axis=1, dtype=np.float32)
    got = AudioSource(lame_mp3).read()
    np.testing.assert_array_equal(got[:-529], want[529:])


def test_a_lame_mp3_read_after_a_seek_equals_the_whole_decode(lame_mp3,
                                                              monkeypatch):
    """Right after a seek libmpg123 gives silence and wrong samples for up
    to three frames of such a file: a window is decoded from eight frames
    before it.  Both the window-only read and the one of files too long to
    keep decoded."""
    source = AudioSource(lame_mp3)
    want = source.read(1000000, 1400000)
    start = centre_window(source.length_at(12000))[0]
    melgram_want, _ = open_input(lame_mp3).windows[0].read()
    monkeypatch.setattr(AudioSource, 'KEEP_DECODED_SECONDS', 10)
    streamed = AudioSource(lame_mp3)
    assert streamed._decoded is None
    np.testing.assert_allclose(streamed.read(1000000, 1400000), want,
                               atol=1 / 32768)
    monkeypatch.setattr(AudioSource, '_count', _refuse_whole_decoding)
    window_only = open_input(lame_mp3, whole=False)
    assert window_only.source.n_samples == source.n_samples
    assert window_only.windows[0].start == start / 12000
    got, _ = window_only.windows[0].read()
    np.testing.assert_allclose(got, melgram_want, atol=1e-3)


def test_a_decoder_that_stops_inside_the_window_is_an_error(lame_mp3,
                                                           monkeypatch):
    """Decoding from a seek that ends before the length found at the end
    means damage in between: an error (``tag`` then decodes the file
    whole), not a window of silence."""
    source = AudioSource(lame_mp3, whole=False)
    assert source.length_from_end
    real = AudioSource._read_frames
    calls = []

    def stopping(self, f, frames):
        calls.append(frames)
        return real(self, f, frames) if len(calls) < 3 else real(self, f, 0)

    monkeypatch.setattr(AudioSource, '_read_frames', stopping)
    with pytest.raises(AudioDecodeError, match='decoding stopped at sample'):
        source.read(1000000, 1000000 + 3 * READ_BLOCK_SAMPLES)
    # Reading up to the end is no error: the last samples (the decoder's
    # delay, removed from the start) are zeros.
    monkeypatch.setattr(AudioSource, '_read_frames', real)
    n = source.n_samples
    tail = source.read(n - 2000, n)
    assert np.all(tail[-529:] == 0) and np.any(tail[:1000] != 0)


def test_damage_outside_the_window_goes_unnoticed(lame_mp3, tmp_path,
                                                  model):
    """Zeros over 20 kB near the start of a minute-long file: decoded whole
    it stops there (and says so); decoded for its centre window, the
    length is found at the end and the window lies after the damage, so
    ``tag`` scores the centre of the whole file without a warning."""
    data = lame_mp3.read_bytes()
    path = tmp_path / 'damaged.mp3'
    at = len(data) // 10
    path.write_bytes(data[:at] + bytes(20000) + data[at + 20000:])
    whole = AudioSource(path)
    assert whole.decoder_error is not None
    window_only = AudioSource(path, whole=False)
    assert window_only.length_from_end
    assert window_only.n_samples > 2 * whole.n_samples
    [r] = tag([path], model=model('crnn-msd'))
    assert 'error' not in r and r['warnings'] == []
