"""Reading a file into what a model takes: windows of a melgram or of the
waveform, as the model's :class:`~chainer_tagger.configuration.ClipInput`
says, with what a result should warn about.

Every failure to read an input is an :class:`~chainer_tagger.errors.InputError`
naming the path, so that one bad file never stops a run over a library.
"""
import collections
import functools
import os
from pathlib import Path

import numpy as np

from chainer_tagger.audio.decode import AudioSource, check_readable
from chainer_tagger.audio.melgram import log_melgram
from chainer_tagger.audio.quality import (Level, audio_fraction,
                                          floor_fraction, measure,
                                          padding_warning,
                                          truncation_warning)
from chainer_tagger.audio.windows import (centre_window, read_window,
                                          window_at, window_starts)
from chainer_tagger.configuration import (MELGRAM_INPUT, MELGRAM_NPY_SHAPES,
                                          N_FRAMES, N_MELS)
from chainer_tagger.errors import InputError, UsageError

#: One window of a file: its ``start`` (seconds), the share of it that is
#: real audio (``audio_fraction``; the rest is zero padding past the end),
#: and ``read()``, which returns ``(model input, level)``: what the
#: window's audio measures (a :class:`~chainer_tagger.audio.quality.Level`:
#: peak, peak without the DC offset, the offset, the share of its
#: mel-spectrogram at the floor; for a melgram ``.npy`` only the last).
Window = collections.namedtuple('Window', 'start audio_fraction read')

#: A file opened for a model: ``duration`` in seconds (None for a melgram
#: ``.npy``), its ``windows`` and the file-level ``warnings`` about its
#: audio (decoding stopped early, a window that is mostly padding; a name
#: that is not UTF-8 is the result's to say, see
#: :func:`~chainer_tagger.inference.tagging.result`); ``source``, the
#: opened :class:`~chainer_tagger.audio.decode.AudioSource` (None for a
#: melgram ``.npy``), from which another model's input can be read without
#: decoding the file again (``open_input(..., source=)``).
FileInput = collections.namedtuple('FileInput',
                                   'path duration windows warnings source',
                                   defaults=(None,))


def read_melgram_npy(path):
    """A melgram saved as ``.npy``, shape (96, 1366), (1, 96, 1366) or
    (1, 1, 96, 1366).

    The stated rule for dtypes: real numbers (any integer or float dtype)
    are converted to float32, except float64, which stays float64 (as the
    original's melgrams were shipped: a float64 model gets them whole);
    booleans, complex numbers and anything else are refused, and so are
    NaN and infinite values (also float64 values beyond float32's range),
    which would give NaN scores.
    """
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError('{}: not a readable .npy ({})'.format(path, e)) \
            from None
    if x.shape not in MELGRAM_NPY_SHAPES:
        raise InputError('{}: a melgram .npy must have shape (96, 1366) or '
                         '(1, 1, 96, 1366), not {}'.format(path, x.shape))
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or
                                   np.issubdtype(x.dtype, np.floating)):
        raise InputError('{}: a melgram .npy must hold real numbers '
                         '(integers or floats), not {}'.format(path, x.dtype))
    with np.errstate(over='ignore'):
        bad = np.count_nonzero(~np.isfinite(x.astype(np.float32)))
    if bad:
        raise InputError('{}: the melgram holds {} NaN or infinite values '
                         '(of {}; float64 values beyond float32 count too)'
                         .format(path, bad, x.size))
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    return x.reshape(N_MELS, N_FRAMES).astype(dtype)


def is_melgram_file(path):
    return Path(path).suffix.lower() == '.npy'


def _model_input(source, start, clip_input, fraction):
    """The model input of the window at ``start`` and its
    :class:`~chainer_tagger.audio.quality.Level` (``fraction``: its share
    of real audio; a looped window is all audio)."""
    samples = read_window(source, start, clip_input.n_samples,
                          clip_input.sample_rate, clip_input.fill)
    fraction = 1.0 if clip_input.fill == 'loop' else fraction
    if clip_input.kind == 'melgram':
        x = log_melgram(samples)
        return x, measure(samples, x, fraction)
    return samples.astype(np.float32), measure(
        samples, log_melgram(samples, clip_input.sample_rate), fraction)


def window_input(y, start, clip_input=MELGRAM_INPUT):
    """The model input of the window at ``start`` of a decoded signal ``y``
    (at ``clip_input.sample_rate``): what :func:`open_input` reads from a
    file, from samples already in memory."""
    samples = window_at(y, start, clip_input.n_samples, clip_input.fill)
    if clip_input.kind == 'melgram':
        return log_melgram(samples)
    return samples.astype(np.float32)


def _npy_input(path):
    x = read_melgram_npy(path)
    return x, Level(None, None, None, floor_fraction(x))


def open_input(path, clip_input=MELGRAM_INPUT, window='centre', hop=None,
               decoder_delay='remove', source=None, whole=True):
    """The windows of one file that a model takes, not read yet.

    Parameters
    ----------
    path : path-like
        An audio file, or (for melgram models, centre window only) a
        melgram ``.npy``.
    clip_input : ClipInput
        What the model takes
        (:data:`~chainer_tagger.configuration.MELGRAM_INPUT` or
        :data:`~chainer_tagger.configuration.WAVEFORM_INPUT`).
    window : {'centre', 'full'}
        The centre window, as the originals, or windows every ``hop``
        seconds (default: the window length) over the whole file.
    decoder_delay : {'remove', 'keep'}
        An MP3's decoder delay removed (as the shipped melgrams were made)
        or kept (as 2016 decoders without gapless information did); see
        :class:`~chainer_tagger.audio.decode.AudioSource`.
    source : AudioSource, optional
        ``path`` already opened (with this ``decoder_delay``), as
        another :class:`FileInput` of it holds it: the file is not opened
        again, and what it decoded (an MP3, up to
        ``AudioSource.KEEP_DECODED_SECONDS``) is not decoded again (one
        pass that feeds two models).
    whole : bool
        Decode an MP3 whole on opening (True), or only its end and then
        the windows read (False: for the centre window alone, when nothing
        else reads the file); see
        :class:`~chainer_tagger.audio.decode.AudioSource`.

    Returns
    -------
    FileInput
        The file is opened (and an MP3 decoded) once; each window is read
        and resampled only when its ``read`` is called, possibly on another
        thread, so memory stays bounded for long files.

    Raises :class:`~chainer_tagger.errors.InputError` for a file that
    cannot be read (here or from a window's ``read``), whatever the step
    that fails (decoding, a header's impossible values, the lengths and
    windows computed from them).
    """
    if source is not None and (
            os.fspath(path) != source.path or
            decoder_delay != source.decoder_delay):
        raise UsageError('source is {} with decoder_delay={!r}, not {} with '
                         '{!r}'.format(source.path, source.decoder_delay,
                                       path, decoder_delay))
    return guarded(path, _open_input, path, clip_input, window, hop,
                   decoder_delay, source, whole)


def _open_input(path, clip_input, window, hop, decoder_delay, source,
                whole):
    warnings = []
    if source is None and is_melgram_file(path):
        if clip_input.kind != 'melgram':
            raise InputError('{}: a melgram .npy cannot feed a model of raw '
                             'audio'.format(path))
        if window != 'centre':
            raise InputError('{}: --window full needs audio, not a melgram '
                             '.npy'.format(path))
        check_readable(path)
        return FileInput(path, None, [Window(0.0, 1.0, functools.partial(
            guarded, path, _npy_input, path))], warnings, None)
    if source is None:
        source = AudioSource(path, decoder_delay, whole)
    n = source.length_at(clip_input.sample_rate)
    length = clip_input.n_samples
    if window == 'centre':
        starts = [centre_window(n, length)[0]]
    else:
        starts = window_starts(n, hop or clip_input.seconds, length,
                               clip_input.sample_rate)
    windows = []
    for start in starts:
        fraction = audio_fraction(start, n, length)
        windows.append(Window(
            start / float(clip_input.sample_rate), fraction,
            functools.partial(guarded, path, _model_input, source, start,
                              clip_input, fraction)))
    expected = None if source.expected_samples is None else \
        source.expected_samples / float(source.samplerate)
    warnings += [w for w in (
        truncation_warning(source.duration, expected, source.decoder_error),
        padding_warning(windows[0].audio_fraction * clip_input.seconds,
                        clip_input.seconds, clip_input.fill)) if w]
    return FileInput(path, source.duration, windows, warnings, source)


def guarded(path, function, *args):
    """``function(*args)``, any failure on one file's data turned into an
    :class:`~chainer_tagger.errors.InputError` naming ``path``: the
    per-file guard, so that one file never stops a run over a library.

    A :class:`MemoryError` counts too (a header's absurd length asking for
    more than the machine has is that file's failure);
    ``KeyboardInterrupt`` and ``SystemExit`` go through.
    """
    try:
        return function(*args)
    except InputError:
        raise
    except Exception as e:
        raise InputError('{}: cannot read ({}: {})'.format(
            path, type(e).__name__, e)) from None


def clip_windows(path, clip_input=MELGRAM_INPUT, window='centre', hop=None,
                 decoder_delay='remove'):
    """Model inputs of one file, ``(start_seconds, array)`` per window,
    read one after the other (see :func:`open_input`)."""
    for w in open_input(path, clip_input, window, hop,
                        decoder_delay).windows:
        yield w.start, w.read()[0]


def read_input(path, clip_input=MELGRAM_INPUT, decoder_delay='remove'):
    """The centre-window model input of one file (by default Choi's
    melgram, ``(96, 1366)``): an audio file or a ``.npy`` melgram."""
    [w] = open_input(path, clip_input, decoder_delay=decoder_delay).windows
    return w.read()[0]
