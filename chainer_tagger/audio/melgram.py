"""Choi's log mel-spectrogram, as ``audio_processor.compute_melgram`` made it.

12 kHz mono, STFT of 512 samples (periodic Hann, reflect padding at the
edges, hop 256), 96 Slaney mel bands, the centre 29.12 s (1366 frames;
zero-padded at the end when shorter), and the log of the *squared* mel
power, ``10 log10(max(1e-10, mel**2))``, clipped to 80 dB below the clip's
peak (old ``librosa.logamplitude(..., ref_power=1.0)``).

The file is decoded and resampled as in 2016 (see
:mod:`chainer_tagger.audio.decode` and :mod:`chainer_tagger.audio.resample`),
but only the samples around the analysed window are read and resampled
(:mod:`chainer_tagger.audio.windows`).
"""
import librosa
import numpy as np

from chainer_tagger.audio.decode import AudioSource
from chainer_tagger.audio.windows import (centre_window, read_window,
                                          window_starts)
from chainer_tagger.configuration import (HOP_LENGTH, MELGRAM_MIN_DB,
                                          MELGRAM_SECONDS, MELGRAM_SR,
                                          MELGRAM_TOP_DB, N_FFT, N_MELS)


def log_melgram(y, sr=MELGRAM_SR):
    """Log mel-spectrogram of a signal at ``sr`` (Choi's: 12 kHz), shape
    ``(96, frames)``.

    A small pure function: no cropping or padding here.  Other rates
    serve to measure what a waveform model's window holds
    (:func:`~chainer_tagger.audio.quality.floor_fraction`).

    The decibels are taken in float64, then rounded to float32: NumPy's
    float32 ``log10`` is vectorised differently by CPU (on an AMD EPYC it
    gives -100.00001 for digital silence, on an Intel Xeon -100.0), and
    float64 makes the melgram the same number on every machine.
    """
    mel = librosa.feature.melspectrogram(
        y=np.asarray(y), sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH,
        n_mels=N_MELS, center=True, pad_mode='reflect', power=2.0,
        norm='slaney', htk=False)
    return librosa.power_to_db(mel.astype(np.float64) ** 2, ref=1.0,
                               amin=10 ** (MELGRAM_MIN_DB / 10),
                               top_db=MELGRAM_TOP_DB).astype(np.float32)


def window_melgram(source, start):
    """Choi's melgram of the 29.12 s window at ``start`` (12 kHz samples)
    of an :class:`~chainer_tagger.audio.decode.AudioSource`."""
    return log_melgram(read_window(source, start))


def melgram(path, decoder_delay='remove'):
    """Choi's mel-spectrogram of an audio file, shape ``(96, 1366)``, float32.

    ``decoder_delay``: an MP3's decoder delay removed (as the shipped
    melgrams were made) or kept (as some published tables were); see
    :class:`~chainer_tagger.audio.decode.AudioSource`.

    Raises
    ------
    chainer_tagger.errors.AudioDecodeError
        For files that cannot be decoded, with the path and the reason.
    """
    source = AudioSource(path, decoder_delay)
    start, _ = centre_window(source.length_at(MELGRAM_SR))
    return window_melgram(source, start)


def melgram_windows(path, hop=MELGRAM_SECONDS, decoder_delay='remove'):
    """Choi's melgram of successive 29.12 s windows over a whole file.

    Yields ``(start_seconds, melgram)`` for windows starting every ``hop``
    seconds, reading and resampling only each window's samples, so memory
    stays bounded for long files.
    """
    source = AudioSource(path, decoder_delay)
    for start in window_starts(source.length_at(MELGRAM_SR), hop):
        yield start / float(MELGRAM_SR), window_melgram(source, start)
