"""What makes a result less than it seems: audio cut short, windows that
are mostly padding, silence.

Small pure functions that turn measurements into the one-line warnings a
result carries (``result['warnings']``); the tagging code measures, these
decide and word.  A model happily scores half a song or 28 s of zeros, so
such inputs are tagged, but never without a word.
"""
import numpy as np

from chainer_tagger.configuration import (PADDING_WARN_FRACTION,
                                          SILENCE_PEAK_DBFS,
                                          TRUNCATION_FRACTION,
                                          TRUNCATION_MIN_SECONDS)


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
