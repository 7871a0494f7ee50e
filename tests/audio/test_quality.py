"""What a result warns about, and reading damaged, odd or unreadable files."""
import os

import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.audio import expand_paths, open_input, read_melgram_npy
from chainer_tagger.audio import decode
from chainer_tagger.audio.decode import AudioSource, riff_declared_frames
from chainer_tagger.audio.quality import (audio_fraction, padding_warning,
                                          peak_dbfs, silence_warning,
                                          truncation_warning)
from chainer_tagger.audio.windows import window_starts
from chainer_tagger.errors import InputError

from conftest import AUDIO


def test_truncation_warning_needs_a_clear_shortfall():
    assert truncation_warning(15.4, 31.7) == \
        'decoding stopped at 15.4 s of 31.7 s'
    # libsndfile's bitrate estimate of a good mp3: 31.69 s for 31.27 s.
    assert truncation_warning(31.27, 31.69) is None
    assert truncation_warning(5.0, 5.9) is None  # less than 1 s short
    assert truncation_warning(30.0, None) is None
    assert truncation_warning(14.9, 31.7, 'decoder error: x') == \
        'decoding stopped at 14.9 s of 31.7 s (decoder error: x)'


def test_padding_and_silence_warnings():
    assert padding_warning(0.5, 29.12) == \
        '0.5 s of audio: 98 % of the 29.12 s window is padding'
    assert padding_warning(25.0, 29.12) is None  # 14 % padding
    assert padding_warning(40.0, 29.12) is None
    assert audio_fraction(0, 100, 50) == 1.0
    assert audio_fraction(80, 100, 50) == 0.4
    assert peak_dbfs(np.zeros(10)) == -np.inf
    assert peak_dbfs([0.5, -1.0]) == 0.0
    assert silence_warning(-np.inf).startswith('silent (no signal)')
    assert 'peak -70 dBFS' in silence_warning(-70.0)
    assert silence_warning(-20.0) is None and silence_warning(None) is None


def test_no_window_starts_past_the_end():
    """A hop longer than the window used to add a window of pure padding."""
    assert window_starts(40 * 12000, hop=60) == [0]
    assert window_starts(70 * 12000, hop=60) == [0, 60 * 12000]


@pytest.fixture(scope='module')
def damaged(tmp_path_factory):
    """bensound-cute.mp3 with bytes flipped and zeroed, and a WAV cut in
    half."""
    d = tmp_path_factory.mktemp('damaged')
    mp3 = (AUDIO / 'bensound-cute.mp3').read_bytes()
    half = len(mp3) // 2
    flipped = bytearray(mp3)
    rng = np.random.RandomState(0)
    for i in rng.randint(1000, len(mp3), 200):
        flipped[i] ^= 0xff
    (d / 'flipped.mp3').write_bytes(bytes(flipped))
    (d / 'zeros.mp3').write_bytes(mp3[:half] + bytes(20000) +
                                  mp3[half + 20000:])
    wav = (AUDIO / 'bensound-actionable.wav').read_bytes()
    (d / 'cut.wav').write_bytes(wav[:len(wav) // 2])
    return d


def test_mp3_whose_decoding_stops_at_damage_is_tagged_with_a_warning(damaged):
    """libsndfile returns the first half of these; the header's length says
    what is missing, and a decoder error part way keeps what decoded."""
    flipped = open_input(damaged / 'flipped.mp3')
    assert flipped.duration == pytest.approx(2.30, abs=0.01)
    assert flipped.warnings == [
        'decoding stopped at 2.3 s of 31.7 s',
        '2.3 s of audio: 92 % of the 29.12 s window is padding']
    zeros = AudioSource(damaged / 'zeros.mp3')  # was: cannot decode
    assert zeros.decoder_error.startswith('decoder error')
    assert open_input(damaged / 'zeros.mp3').warnings[0].startswith(
        'decoding stopped at 14.9 s of 31.7 s (decoder error')
    good = open_input(AUDIO / 'bensound-cute.mp3')
    assert good.warnings == []


def test_wav_cut_short_declares_its_full_length(damaged):
    info = sf.info(str(AUDIO / 'bensound-actionable.wav'))
    assert riff_declared_frames(damaged / 'cut.wav') == info.frames
    assert riff_declared_frames(AUDIO / 'bensound-actionable.mp3') is None
    notes = open_input(damaged / 'cut.wav').warnings
    assert notes[0] == 'decoding stopped at 15.9 s of 31.8 s'


def test_unreadable_file_is_a_permission_error(tmp_path, monkeypatch):
    path = tmp_path / 'locked.mp3'
    path.write_bytes((AUDIO / 'bensound-cute.mp3').read_bytes())
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, 'Permission denied', str(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(decode, 'open', refusing_open, raising=False)
    with pytest.raises(InputError, match='permission denied'):
        open_input(path)


def test_folder_scan_rules(tmp_path, monkeypatch):
    """Audio extensions, no hidden files or folders, .npy only of a
    melgram's shape; a sub-folder that cannot be listed is kept to be
    reported."""
    melgram = np.zeros((96, 1366), np.float32)
    for name in ('a.mp3', 'b.WAV', 'notes.txt', '.hidden.mp3', 'cover.jpg'):
        (tmp_path / name).write_bytes(b'x')
    np.save(tmp_path / 'melgram.npy', melgram)
    np.save(tmp_path / 'features.npy', np.zeros((10, 32)))
    (tmp_path / '.git').mkdir()
    (tmp_path / '.git' / 'c.mp3').write_bytes(b'x')
    (tmp_path / 'locked').mkdir()
    (tmp_path / 'locked' / 'd.mp3').write_bytes(b'x')
    real_scandir = os.scandir

    def scandir(path='.'):
        if os.fspath(path) == str(tmp_path / 'locked'):
            raise PermissionError(13, 'Permission denied', os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(os, 'scandir', scandir)
    found = [p.relative_to(tmp_path).as_posix()
             for p in expand_paths([tmp_path, tmp_path / 'features.npy'])]
    assert found == ['a.mp3', 'b.WAV', 'melgram.npy', 'locked',
                     'features.npy']
    with pytest.raises(InputError, match='a folder that cannot be read '
                                         r'\(Permission denied\)'):
        open_input(tmp_path / 'locked')


def test_npy_dtype_rule(tmp_path):
    """Integers and floats are converted to float32; complex and boolean
    arrays, NaN and infinity are refused."""
    m = np.load(AUDIO / 'bensound-cute.melgram.npy')[0, 0]
    np.save(tmp_path / 'int.npy', np.round(m).astype(np.int16))
    x = read_melgram_npy(tmp_path / 'int.npy')
    assert x.dtype == np.float32 and x[0, 0] == np.round(m[0, 0])
    for name, value, reason in [
            ('complex', m.astype(np.complex64), 'not complex64'),
            ('bool', m > 0, 'not bool'),
            ('nan', np.where(np.arange(m.size).reshape(m.shape) == 5,
                             np.nan, m), '1 NaN or infinite values'),
            ('big', np.full(m.shape, 1e300), '131136 NaN or infinite')]:
        np.save(tmp_path / (name + '.npy'), value)
        with pytest.raises(InputError, match=reason):
            read_melgram_npy(tmp_path / (name + '.npy'))


def test_no_music_warnings_are_measured_and_worded():
    from chainer_tagger.audio.quality import (Level, floor_fraction,
                                              loudest, measure,
                                              no_music_warning)
    dc = measure(np.full(1000, 0.5))
    assert dc.varying == -np.inf and round(dc.offset) == -6
    assert no_music_warning(dc) == (
        'no sound, only a constant offset (DC at -6 dBFS): the scores are '
        'those of silence')
    hum = measure(0.5 + 1e-4 * np.sin(np.arange(1000)))
    assert no_music_warning(hum).startswith(
        'nearly silent under a constant offset (DC at -6 dBFS; what varies '
        'stays within -80 dBFS)')
    # Padding past the end is not the file's audio: a 10 % clip of DC.
    padded = np.concatenate([np.full(100, 0.5), np.zeros(900)])
    assert no_music_warning(measure(padded, audio_fraction=0.1)) == \
        no_music_warning(dc)
    assert no_music_warning(measure(np.zeros(10))).startswith('silent')
    floor = np.full((96, 100), -20.0)
    floor[0, 0] = 60.0  # one bin within 80 dB of the peak
    assert floor_fraction(floor) == pytest.approx(1 - 1 / 9600.0)
    assert floor_fraction(floor, audio_fraction=0.01) == 95 / 96.0
    assert no_music_warning(Level(None, None, None, 0.995)) == (
        'almost nothing to analyse: 99.5 % of the mel-spectrogram sits at '
        'its floor (80 dB below its peak or lower), so the scores say little '
        'about any music')
    assert no_music_warning(Level(None, None, None, 0.9)) is None
    rng = np.random.RandomState(0)
    music = measure(0.3 * rng.uniform(-1, 1, 1000))
    assert no_music_warning(music) is None
    assert loudest([dc, music]).varying == music.varying  # one window is
    assert no_music_warning(loudest([dc, music])) is None  # enough


def test_no_music_warning_for_a_waveform_model(tmp_path):
    """A waveform model's window is measured too (its samples, and a
    mel-spectrogram of them at the model's rate)."""
    from chainer_tagger.audio.quality import no_music_warning
    from chainer_tagger.configuration import WAVEFORM_INPUT
    sf.write(tmp_path / 'dc.wav', np.full(3 * 8000, 0.5, np.float32), 8000)
    _, level = open_input(tmp_path / 'dc.wav', WAVEFORM_INPUT).windows[
        0].read()
    assert no_music_warning(level).startswith('no sound, only a constant')
    assert level.floor_fraction is not None


@pytest.mark.parametrize('rate', [0, 1, 999, 768001, 2 ** 31])
def test_header_rates_outside_the_range_are_refused(rate):
    from chainer_tagger.audio.decode import check_header
    with pytest.raises(InputError, match='impossible header: a sample rate'):
        check_header('x.wav', rate, 1)
    with pytest.raises(InputError, match='impossible header: 0 channels'):
        check_header('x.wav', 8000, 0)
    assert check_header('x.wav', 8000.0, 2) == (8000, 2)
