"""Band-limited resampling as librosa did it in 2016.

Old librosa (0.4/0.5) resampled with resampy's ``kaiser_best`` filter.  The
filter table that resampy 0.1.x shipped is a windowed sinc with 64
zero-crossings, 512 table entries per crossing, a Kaiser window with
``beta = 14.769656459379492`` and a roll-off at ``0.9475937167399596``
times Nyquist; it is rebuilt here from those parameters (it equals the
shipped table to 2e-16).  resampy >= 0.2 ships a different ``kaiser_best``,
which changes Choi's mel-spectrograms by up to 19 dB, so we pass this table
to today's resampy as a custom filter.
"""
import functools
from math import gcd

import numpy as np
import resampy
import scipy.signal

KAISER_BEST_2016 = dict(num_zeros=64, precision=9, beta=14.769656459379492,
                        rolloff=0.9475937167399596)


@functools.lru_cache(maxsize=None)
def kaiser_best_2016():
    """The right half of resampy 0.1.4's ``kaiser_best`` filter.

    Returns
    -------
    half_window : np.ndarray, shape (32769,)
    precision : int
        Table entries per zero-crossing (512).
    rolloff : float
    """
    p = KAISER_BEST_2016
    n = (2 ** p['precision']) * p['num_zeros']
    sinc = p['rolloff'] * np.sinc(
        p['rolloff'] * np.linspace(0, p['num_zeros'], num=n + 1,
                                   endpoint=True))
    taper = scipy.signal.get_window(('kaiser', p['beta']), 2 * n + 1,
                                    fftbins=False)[n:]
    window = taper * sinc
    window.setflags(write=False)
    return window, 2 ** p['precision'], p['rolloff']


def _filter():
    window, precision, rolloff = kaiser_best_2016()
    return window.copy(), precision, rolloff


def filter_half_width(sr_orig, sr_new):
    """Input samples on each side that one output sample depends on."""
    window, precision, _ = kaiser_best_2016()
    scale = min(1.0, sr_new / sr_orig)
    return len(window) // int(scale * precision) + 1


def resample(y, sr_orig, sr_new):
    """Resample the last axis of ``y`` like ``librosa.resample`` in 2016.

    The output has ``ceil(n * sr_new / sr_orig)`` samples (librosa's
    ``fix_length`` of resampy's ``floor`` length) and ``y``'s dtype.
    """
    if sr_orig == sr_new:
        return y
    n_out = int(np.ceil(y.shape[-1] * float(sr_new) / sr_orig))
    if int(y.shape[-1] * float(sr_new) / sr_orig) < 1:
        raise ValueError('signal of {} samples is too short to resample '
                         'from {} Hz to {} Hz'.format(y.shape[-1], sr_orig,
                                                      sr_new))
    out = resampy.resample(y, sr_orig, sr_new, filter=_filter, axis=-1)
    pad = n_out - out.shape[-1]
    if pad > 0:
        widths = [(0, 0)] * (out.ndim - 1) + [(0, pad)]
        out = np.pad(out, widths)
    return out[..., :n_out]


def phase_period(sr_orig, sr_new):
    """(input, output) sample periods after which the resampler repeats.

    Resampling a chunk that starts at a multiple of the input period gives
    exactly the samples of resampling the whole signal, shifted by the
    same multiple of the output period (away from the chunk's edges).
    """
    g = gcd(int(sr_orig), int(sr_new))
    return int(sr_orig) // g, int(sr_new) // g
