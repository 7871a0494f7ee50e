"""What makes a result less than it seems: audio cut short, windows that
are mostly padding, silence, and audio that carries no music (a constant
offset, near silence under an offset, a mel-spectrogram almost all at its
floor).

Small pure functions that turn measurements into the one-line warnings a
result carries (``result['warnings']``); the tagging code measures, these
decide and word.  A model happily scores half a song or 28 s of zeros, so
such inputs are tagged, but never without a word.
"""
import collections
import math

import numpy as np

from chainer_tagger.configuration import (DC_ONLY_DBFS, FLOOR_WARN_FRACTION,
                                          MELGRAM_MIN_DB, MELGRAM_TOP_DB,
                                          PADDING_WARN_FRACTION,
                                          SILENCE_PEAK_DBFS,
                                          TRUNCATION_FRACTION,
                                          TRUNCATION_MIN_SECONDS)

#: What a window's audio measures, for the warnings of its result:
#: ``peak`` (dBFS), ``varying`` (dBFS of what varies once the constant
#: offset, the mean, is removed: the level that 99 % of its samples stay
#: within, so that the resampler's ringing at a file's first and last
#: samples, or a lone click, does not count), ``offset`` (dBFS of that
#: mean) (these three None for a melgram ``.npy``), and
#: ``floor_fraction``, the share of the log mel-spectrogram's bins at its
#: floor (None when unknown).  Only the real audio counts, never the zero
#: padding past a file's end.
Level = collections.namedtuple('Level', 'peak varying offset floor_fraction')

#: The share of samples whose level :attr:`Level.varying` is.
VARYING_QUANTILE = 0.99


def truncation_warning(decoded_seconds, expected_seconds, reason=None):
    """A warning when decoding delivered clearly less than the header says.

    Parameters
    ----------
    decoded_seconds : float
        What the decoder delivered before it stopped.
    expected_seconds : float or None
        The length the file's header (or its size and bitrate) implies;
        None when unknown.
    reason : str, optional
        The decoder's error, when it stopped on one.

    Returns
    -------
    str or None
    """
    if expected_seconds is None:
        if reason is None:
            return None
        text = 'decoding stopped at {:.1f} s'.format(decoded_seconds)
    else:
        clearly_short = (
            decoded_seconds < TRUNCATION_FRACTION * expected_seconds and
            expected_seconds - decoded_seconds >= TRUNCATION_MIN_SECONDS)
        if not clearly_short and reason is None:
            return None
        text = 'decoding stopped at {:.1f} s of {:.1f} s'.format(
            decoded_seconds, expected_seconds)
    return text + (' ({})'.format(reason) if reason else '')


def audio_fraction(start, n, length):
    """Share of the window ``[start, start + length)`` that lies inside a
    signal of ``n`` samples (the rest is zero padding)."""
    inside = min(n, start + length) - max(0, start)
    return max(0, inside) / float(length)


def padding_warning(audio_seconds, window_seconds, fill='zeros'):
    """A warning when most of a model's window is padding.

    ``audio_seconds`` of real audio in a window of ``window_seconds``:
    a warning once more than
    :data:`~chainer_tagger.configuration.PADDING_WARN_FRACTION` of it is
    zeros (a 0.5 s clip in a 29.12 s window is 98 % padding), or, for a
    model that loops short clips (``fill='loop'``), the clip repeated.
    """
    padding = 1.0 - min(audio_seconds, window_seconds) / window_seconds
    if padding <= PADDING_WARN_FRACTION:
        return None
    if fill == 'loop':
        return '{:.1f} s of audio: repeated to fill the {:.2f} s window ' \
            '({:.0f} % of it is the clip again)'.format(
                audio_seconds, window_seconds, 100 * padding)
    return '{:.1f} s of audio: {:.0f} % of the {:.2f} s window is ' \
        'padding'.format(audio_seconds, 100 * padding, window_seconds)


def peak_dbfs(samples):
    """Peak level of float samples (full scale 1.0) in dBFS; ``-inf`` for
    all zeros or no samples."""
    samples = np.asarray(samples)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def dbfs(value):
    """An amplitude (full scale 1.0) in dBFS; ``-inf`` for 0."""
    value = abs(float(value))
    return 20 * math.log10(value) if value > 0 else -np.inf


def floor_fraction(log_spectrogram, audio_fraction=1.0):
    """Share of the bins of a log mel-spectrogram (dB, Choi's: clipped
    ``MELGRAM_TOP_DB`` below its peak, never below ``MELGRAM_MIN_DB``) at
    its floor, over the first ``audio_fraction`` of its frames (the rest
    is zero padding, at the floor by construction)."""
    x = np.asarray(log_spectrogram, np.float64)
    x = x.reshape(-1, x.shape[-1])
    frames = max(1, int(math.ceil(audio_fraction * x.shape[1])))
    x = x[:, :frames]
    if not x.size:
        return None
    floor = max(float(x.max()) - MELGRAM_TOP_DB, MELGRAM_MIN_DB)
    return float(np.count_nonzero(x <= floor + 1e-3)) / x.size


def measure(samples, log_spectrogram=None, audio_fraction=1.0):
    """The :class:`Level` of a window: ``samples`` (float, full scale
    1.0) whose first ``audio_fraction`` is real audio, and its log
    mel-spectrogram when there is one."""
    samples = np.asarray(samples, np.float64)
    real = samples[:max(1, int(round(audio_fraction * len(samples))))]
    if real.size:
        offset = float(real.mean())
        varying = float(np.quantile(np.abs(real - offset),
                                    VARYING_QUANTILE))
    else:
        offset = varying = 0.0
    return Level(peak_dbfs(samples), dbfs(varying), dbfs(offset),
                 None if log_spectrogram is None else
                 floor_fraction(log_spectrogram, audio_fraction))


def loudest(levels):
    """The :class:`Level` of a file from those of its windows: its
    loudest window (the peaks), and the least empty one (the floor
    fraction), so that one window of music is enough for no warning;
    None when no window has one."""
    levels = [lv for lv in levels if lv is not None]
    if not levels:
        return None
    timed = [lv for lv in levels if lv.peak is not None]
    floors = [lv.floor_fraction for lv in levels
              if lv.floor_fraction is not None]
    best = max(timed, key=lambda lv: (lv.varying, lv.peak)) \
        if timed else Level(None, None, None, None)
    return best._replace(
        peak=max(lv.peak for lv in timed) if timed else None,
        floor_fraction=min(floors) if floors else None)


def no_music_warning(level):
    """A warning when a window (or file, see :func:`loudest`) carries no
    music, or None: silence (:func:`silence_warning`); a constant offset
    (above the silence level) and nothing else (DC only: what varies
    stays below :data:`~chainer_tagger.configuration.DC_ONLY_DBFS`); near
    silence under an offset (what varies stays below
    :data:`~chainer_tagger.configuration.SILENCE_PEAK_DBFS`); or a
    mel-spectrogram with at least
    :data:`~chainer_tagger.configuration.FLOOR_WARN_FRACTION` of its bins
    at the floor (a click, a hum, a faint sound).  At most one, the first
    that applies."""
    if level is None:
        return None
    if level.peak is not None:
        silent = silence_warning(level.peak)
        if silent:
            return silent
        offset = level.offset >= SILENCE_PEAK_DBFS
        if offset and level.varying < DC_ONLY_DBFS:
            return ('no sound, only a constant offset (DC at {:.0f} dBFS): '
                    'the scores are those of silence'.format(level.offset))
        if offset and level.varying < SILENCE_PEAK_DBFS:
            return ('nearly silent under a constant offset (DC at {:.0f} '
                    'dBFS; what varies stays within {:.0f} dBFS): the '
                    'scores are those of near silence'.format(
                        level.offset, level.varying))
    if level.floor_fraction is not None and \
            level.floor_fraction >= FLOOR_WARN_FRACTION:
        return ('almost nothing to analyse: {:.1f} % of the '
                'mel-spectrogram sits at its floor ({:.0f} dB below its '
                'peak or lower), so the scores say little about any '
                'music'.format(100 * level.floor_fraction, MELGRAM_TOP_DB))
    return None


def silence_warning(peak):
    """A warning when the analysed audio peaks below
    :data:`~chainer_tagger.configuration.SILENCE_PEAK_DBFS` (``peak`` in
    dBFS, or None when unknown, as for a melgram ``.npy``)."""
    if peak is None or peak >= SILENCE_PEAK_DBFS:
        return None
    level = 'no signal' if peak == -np.inf else \
        'peak {:.0f} dBFS'.format(peak)
    return 'silent ({}): the scores are those of silence'.format(level)


def file_name_warning(path):
    """A warning for a path that is not valid UTF-8 (how JSON writes it)."""
    try:
        str(path).encode('utf-8')
    except UnicodeEncodeError:
        return ('the file name is not valid UTF-8: JSON writes each byte '
                'that does not decode as an escape \\udcXX of the byte XX '
                '(os.fsencode gives the name back); tables and CSV write '
                'the bytes as they are')
    return None
