"""Windows of a signal: the centre one, or one every ``hop`` seconds.

An input window is read from an
:class:`~chainer_tagger.audio.decode.AudioSource` at the rate a model
needs, decoding and resampling only the samples around it, so memory
stays bounded for long files and the result equals resampling the whole
file.
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


def window_at(y, start, length, fill='zeros'):
    """``length`` samples of ``y`` from ``start``.

    Past the end of ``y`` the window holds zeros (``fill='zeros'``, as
    :func:`fit_to_window` pads) or ``y`` again from its beginning
    (``fill='loop'``: the clip is read as a circle), so that a clip
    shorter than a model's window fills it with music instead of silence.
    """
    y = np.asarray(y)
    if fill == 'loop' and len(y):
        return y[(start + np.arange(length)) % len(y)]
    out = y[start:start + length]
    if len(out) < length:
        out = np.concatenate([out.astype(np.float64),
                              np.zeros(length - len(out))])
    return out


def spread_starts(n, length, count, fill='zeros'):
    """Starts of ``count`` windows of ``length`` samples that cover a clip
    of ``n`` samples evenly (the windows a clip is scored on).

    A clip at least one window long: starts evenly spaced from 0 to
    ``n - length``, all windows inside the clip.  A shorter clip, looped
    (``fill='loop'``): starts evenly spaced around the circle, each window
    a rotation of the clip.  A shorter clip padded with zeros has one
    window (start 0): moving it only moves the zeros.
    """
    if n >= length:
        return np.unique(np.linspace(0, n - length, count).round()
                         .astype(np.int64))
    if fill == 'loop':
        return np.unique((np.arange(count) * n // count).astype(np.int64))
    return np.zeros(1, np.int64)


def random_start(n, length, fill, rng):
    """A random window start for training (see :func:`spread_starts` for
    the windows a start may give): uniform over the positions whose window
    lies inside the clip, around the whole circle for a looped clip
    shorter than the window, 0 for a short clip padded with zeros."""
    if n >= length:
        return int(rng.randint(n - length + 1))
    if fill == 'loop':
        return int(rng.randint(n))
    return 0


def window_starts(n, hop=MELGRAM_SECONDS, length=MELGRAM_SAMPLES,
                  sr=MELGRAM_SR):
    """Starts of windows of ``length`` samples every ``hop`` seconds over a
    signal of ``n`` samples at ``sr`` (by default Choi's 29.12 s at 12 kHz).

    Windows go on until one reaches the end, and, with a hop shorter than
    half a window, while a window's centre lies in the signal: a window's
    place in time is its centre, so a 30 s song with a 3 s hop has six
    (centres 14.6 to 29.6 s), not the two that reach its end.  The last
    windows may run past the end (zero-padded, at most half), but no
    window starts past the end: with a hop longer than the window, such a
    window would hold nothing but padding."""
    if hop <= 0:
        raise ValueError('hop must be positive, got {}'.format(hop))
    step = max(1, int(round(hop * sr)))
    starts = [0]
    while starts[-1] + step < n and (starts[-1] + length < n or
                                     starts[-1] + step + length // 2 < n):
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


def read_window(source, start, length=MELGRAM_SAMPLES, sr=MELGRAM_SR,
                fill='zeros'):
    """``length`` samples at ``sr`` from ``start`` of an
    :class:`~chainer_tagger.audio.decode.AudioSource`; past the end, zeros
    or (``fill='loop'``) the file again from its start (see
    :func:`window_at`).  A looped window reads the file's beginning once
    more rather than keeping the whole file."""
    n = source.length_at(sr)
    stop = min(n, start + length)
    y = read_resampled(source, start, stop, sr)
    if fill != 'loop' or len(y) >= length or n == 0:
        return fit_to_window(y, length)
    head = read_resampled(source, 0, min(n, length - len(y)), sr)
    pieces, have = [y], len(y)
    while have < length:
        pieces.append(head[:length - have])
        have += len(pieces[-1])
    return np.concatenate(pieces).astype(np.float32)
