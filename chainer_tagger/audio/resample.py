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

from chainer_tagger.cblas import matmul_one_thread

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


def check_rates(sr_orig, sr_new):
    """A :class:`ValueError` for rates that cannot be resampled between:
    not positive, or so far apart (more than 512:1 down) that the filter
    table has no entry per output sample."""
    if not (sr_orig > 0 and sr_new > 0):
        raise ValueError('cannot resample from {} Hz to {} Hz: sample rates '
                         'must be positive'.format(sr_orig, sr_new))
    _, precision, _ = kaiser_best_2016()
    if int(min(1.0, sr_new / sr_orig) * precision) < 1:
        raise ValueError('cannot resample from {} Hz to {} Hz: more than '
                         '{}:1 down'.format(sr_orig, sr_new, precision))


def filter_half_width(sr_orig, sr_new):
    """Input samples on each side that one output sample depends on."""
    check_rates(sr_orig, sr_new)
    window, precision, _ = kaiser_best_2016()
    scale = min(1.0, sr_new / sr_orig)
    return len(window) // int(scale * precision) + 1


#: Above this many filter phases the polyphase matrix gets large; such
#: unusual rate pairs go through resampy's loop instead.
MAX_PHASES = 1024


@functools.lru_cache(maxsize=16)
def polyphase_matrix(sr_orig, sr_new):
    """resampy's interpolation weights as one matrix per rate pair.

    resampy evaluates, for output sample ``t``, the interpolation table at
    offsets that depend only on the fractional part of ``t * sr_orig /
    sr_new``; for rates ``sr_new / sr_orig = up / down`` in lowest terms
    there are ``up`` such phases.  Column ``p`` of the returned matrix holds
    phase ``p``'s weights (table value plus linear interpolation, as resampy
    computes them) over a window of ``down + left + right - 1`` input
    samples starting ``left - 1`` samples before ``down * m``.

    Returns
    -------
    H : np.ndarray, float32, shape (down + left + right - 1, up)
    left : int
        Taps to the left of (and including) the sample under the output.
    up, down : int
    """
    down, up = phase_period(sr_orig, sr_new)
    window, precision, _ = kaiser_best_2016()
    ratio = float(sr_new) / sr_orig
    scale = min(1.0, ratio)
    win = window * ratio if ratio < 1 else window
    delta = np.zeros_like(win)
    delta[:-1] = np.diff(win)
    step = int(scale * precision)
    nwin = len(win)

    def wing(frac):
        index = frac * precision
        offset = int(index)
        eta = index - offset
        taps = offset + step * np.arange((nwin - offset) // step)
        return win[taps] + eta * delta[taps]

    phases = []
    for p in range(up):
        register = p / ratio
        n = int(register)
        frac = scale * (register - n)
        phases.append((n, wing(frac), wing(scale - frac)))
    left = max(n + 1 for n, _, _ in phases) + \
        max(len(lw) for _, lw, _ in phases)
    right = max(len(rw) for _, _, rw in phases)
    H = np.zeros((left + down + right, up))
    for p, (n, lw, rw) in enumerate(phases):
        base = left - 1 + n  # row of x[n]
        H[base - np.arange(len(lw)), p] += lw
        H[base + 1 + np.arange(len(rw)), p] += rw
    rows = np.flatnonzero(H.any(axis=1))
    H = H[:rows[-1] + 1]
    return H.astype(np.float32), left, up, down


def _resample_polyphase(y, sr_orig, sr_new, n_out, block=4096):
    H, left, up, down = polyphase_matrix(sr_orig, sr_new)
    width = H.shape[0]
    n_rows = -(-n_out // up)
    padded = np.zeros(left - 1 + n_rows * down + width, np.float32)
    padded[left - 1:left - 1 + len(y)] = y
    out = np.empty(n_rows * up, np.float32)
    for start in range(0, n_rows, block):  # bounded memory for long input
        stop = min(n_rows, start + block)
        windows = np.lib.stride_tricks.as_strided(
            padded[start * down:], shape=(stop - start, width),
            strides=(down * 4, 4), writeable=False)
        # A contiguous copy lets the product run as one BLAS GEMM, on
        # this thread alone: it runs beside the model.
        out[start * up:stop * up] = matmul_one_thread(
            np.ascontiguousarray(windows), H).reshape(-1)
    return out[:n_out]


def resample(y, sr_orig, sr_new):
    """Resample a 1-D signal like ``librosa.resample`` did in 2016.

    The output has ``ceil(n * sr_new / sr_orig)`` samples (librosa's
    ``fix_length`` of resampy's ``floor`` length).  The weights are
    resampy's with the 2016 ``kaiser_best`` table; they are applied as one
    polyphase matrix product (:func:`polyphase_matrix`), which equals
    resampy's sample-by-sample loop up to float32 rounding and runs ~50x
    faster.
    """
    if sr_orig == sr_new:
        return y
    check_rates(sr_orig, sr_new)
    n_out = int(np.ceil(y.shape[-1] * float(sr_new) / sr_orig))
    if int(y.shape[-1] * float(sr_new) / sr_orig) < 1:
        raise ValueError('signal of {} samples is too short to resample '
                         'from {} Hz to {} Hz'.format(y.shape[-1], sr_orig,
                                                      sr_new))
    if y.ndim == 1 and phase_period(sr_orig, sr_new)[1] <= MAX_PHASES:
        return _resample_polyphase(np.asarray(y, np.float32), sr_orig,
                                   sr_new, n_out)
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
