"""Windows of a signal: the centre one, or one every ``hop`` seconds.

An input window is read from an
:class:`~chainer_tagger.audio.decode.AudioSource` at the rate a model needs,
decoding and resampling only the samples around it, so memory stays bounded
for long files and the result equals resampling the whole file.
"""
import numpy as np

from chainer_tagger.audio.resample import (filter_half_width, phase_period,
                                           resample)
from chainer_tagger.configuration import (MELGRAM_SAMPLES, MELGRAM_SECONDS,
                                          MELGRAM_SR)


def centre_window(n, length=MELGRAM_SAMPLES):
    """``(start, stop)`` of the analysed samples in a signal of ``n``.

    Python 2's integer division of the original: the centre ``length``
    samples, or all of them when the signal is shorter.
    """
    if n > length:
        start = (n - length) // 2
        return start, start + length
    return 0, n


def fit_to_window(y, length=MELGRAM_SAMPLES):
    """Centre-crop or zero-pad a signal to ``length`` samples.

    Padding is in float64, as the original's ``np.hstack`` with
    ``np.zeros`` made it (float32 input that needs no padding stays
    float32).
    """
    y = np.asarray(y)
    start, stop = centre_window(len(y), length)
    y = y[start:stop]
    if len(y) < length:
        y = np.concatenate([y.astype(np.float64),
                            np.zeros(length - len(y))])
    return y


def window_starts(n, hop=MELGRAM_SECONDS, length=MELGRAM_SAMPLES,
                  sr=MELGRAM_SR):
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


def read_resampled(source, start, stop, sr=MELGRAM_SR):
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


def read_window(source, start, length=MELGRAM_SAMPLES, sr=MELGRAM_SR):
    """``length`` samples at ``sr`` from ``start`` (zero-padded past the
    end) of an :class:`~chainer_tagger.audio.decode.AudioSource`."""
    stop = min(source.length_at(sr), start + length)
    return fit_to_window(read_resampled(source, start, stop, sr), length)
