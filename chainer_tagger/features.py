"""Choi's log mel-spectrogram, as ``audio_processor.compute_melgram`` made it.

12 kHz mono, STFT of 512 samples (periodic Hann, reflect padding at the
edges, hop 256), 96 Slaney mel bands, the centre 29.12 s (1366 frames;
zero-padded at the end when shorter), and the log of the *squared* mel
power, ``10 log10(max(1e-10, mel**2))``, clipped to 80 dB below the clip's
peak (old ``librosa.logamplitude(..., ref_power=1.0)``).

The file is decoded and resampled as in 2016 (see :mod:`chainer_tagger.audio`
and :mod:`chainer_tagger.resample`), but only the samples around the
centre window are read and resampled, so memory stays bounded for long
files and the result equals resampling the whole file.
"""
import librosa
import numpy as np

from chainer_tagger.audio import AudioSource
from chainer_tagger.resample import filter_half_width, phase_period, resample

SR = 12000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
DURATION = 29.12
#: Samples at 12 kHz in the analysed window (29.12 s).
N_SAMPLES = int(DURATION * SR)
#: STFT frames in the analysed window.
N_FRAMES = 1 + N_SAMPLES // HOP_LENGTH


def log_melgram(y):
    """Log mel-spectrogram of a 12 kHz signal, shape ``(96, frames)``.

    A small pure function: no cropping or padding here.
    """
    mel = librosa.feature.melspectrogram(
        y=np.asarray(y), sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH,
        n_mels=N_MELS, center=True, pad_mode='reflect', power=2.0,
        norm='slaney', htk=False)
    return librosa.power_to_db(mel ** 2, ref=1.0, amin=1e-10,
                               top_db=80.0).astype(np.float32)


def centre_window(n, length=N_SAMPLES):
    """``(start, stop)`` of the analysed samples in a signal of ``n``.

    Python 2's integer division of the original: the centre ``length``
    samples, or all of them when the signal is shorter.
    """
    if n > length:
        start = (n - length) // 2
        return start, start + length
    return 0, n


def fit_to_window(y, length=N_SAMPLES):
    """Centre-crop or zero-pad a signal to ``length`` samples.

    Padding is in float64, as the original's ``np.hstack`` with
    ``np.zeros`` made it.
    """
    start, stop = centre_window(len(y), length)
    y = y[start:stop]
    if len(y) < length:
        y = np.concatenate([y.astype(np.float64),
                            np.zeros(length - len(y))])
    return y


def read_resampled(source, start, stop, sr=SR):
    """Samples ``[start, stop)`` of ``source`` resampled to ``sr``.

    Equal to the same slice of the whole file resampled, but reads only
    the input samples the resampling filter needs around the window.
    """
    if source.samplerate == sr:
        return source.read(start, stop)
    in_period, out_period = phase_period(source.samplerate, sr)
    margin = filter_half_width(source.samplerate, sr) + 2 * in_period
    in_start = start * source.samplerate / sr - margin
    first = int(np.floor(in_start / in_period))
    chunk_start = first * in_period
    chunk_stop = int(np.ceil(stop * source.samplerate / sr)) + margin
    chunk = source.read(chunk_start, chunk_stop)
    out = resample(chunk, source.samplerate, sr)
    offset = start - first * out_period
    return out[offset:offset + (stop - start)]


def melgram(path):
    """Choi's mel-spectrogram of an audio file, shape ``(96, 1366)``, float32.

    Raises
    ------
    chainer_tagger.audio.AudioDecodeError
        For files that cannot be decoded, with the path and the reason.
    """
    source = AudioSource(path)
    start, _ = centre_window(source.length_at(SR))
    return window_melgram(source, start)


def window_starts(n, hop=DURATION, length=N_SAMPLES, sr=SR):
    """Starts of windows of ``length`` samples every ``hop`` seconds over a
    signal of ``n`` samples at ``sr`` (by default Choi's 29.12 s at 12 kHz);
    the last window may run past the end (it is zero-padded)."""
    if hop <= 0:
        raise ValueError('hop must be positive, got {}'.format(hop))
    step = max(1, int(round(hop * sr)))
    starts = [0]
    while starts[-1] + length < n:
        starts.append(starts[-1] + step)
    return starts


def read_window(source, start, length=N_SAMPLES, sr=SR):
    """``length`` samples at ``sr`` from ``start`` (zero-padded past the
    end) of an :class:`~chainer_tagger.audio.AudioSource`."""
    stop = min(source.length_at(sr), start + length)
    return fit_to_window(read_resampled(source, start, stop, sr), length)


def window_melgram(source, start):
    """Choi's melgram of the 29.12 s window at ``start`` (12 kHz samples)
    of an :class:`~chainer_tagger.audio.AudioSource`."""
    return log_melgram(read_window(source, start))


def melgram_windows(path, hop=DURATION):
    """Choi's melgram of successive 29.12 s windows over a whole file.

    Yields ``(start_seconds, melgram)`` for windows starting every ``hop``
    seconds, reading and resampling only each window's samples, so memory
    stays bounded for long files.
    """
    source = AudioSource(path)
    for start in window_starts(source.length_at(SR), hop):
        yield start / float(SR), window_melgram(source, start)
