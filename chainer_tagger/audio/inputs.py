"""Reading a file into what a model takes: windows of a melgram or of the
waveform, as the model's :class:`~chainer_tagger.configuration.ClipInput`
says.

Every failure to read an input is an :class:`~chainer_tagger.errors.InputError`
naming the path, so that one bad file never stops a run over a library.
"""
import functools
from pathlib import Path

import numpy as np

from chainer_tagger.audio.decode import AudioSource
from chainer_tagger.audio.melgram import log_melgram
from chainer_tagger.audio.windows import (centre_window, read_window,
                                          window_starts)
from chainer_tagger.configuration import MELGRAM_INPUT, N_FRAMES, N_MELS
from chainer_tagger.errors import InputError


def read_melgram_npy(path):
    """A melgram saved as ``.npy``, shape (96, 1366) or (1, 1, 96, 1366);
    float64 files stay float64, others become float32."""
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError('{}: not a readable .npy ({})'.format(path, e)) \
            from None
    if x.shape not in ((N_MELS, N_FRAMES), (1, 1, N_MELS, N_FRAMES),
                       (1, N_MELS, N_FRAMES)):
        raise InputError('{}: a melgram .npy must have shape (96, 1366) or '
                         '(1, 1, 96, 1366), not {}'.format(path, x.shape))
    if not np.issubdtype(x.dtype, np.number):
        raise InputError('{}: not numeric ({})'.format(path, x.dtype))
    # float64 stays float64 (as shipped): a float64 model gets it whole.
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    return x.reshape(N_MELS, N_FRAMES).astype(dtype)


def is_melgram_file(path):
    return Path(path).suffix.lower() == '.npy'


def _model_input(source, start, clip_input):
    samples = read_window(source, start, clip_input.n_samples,
                          clip_input.sample_rate)
    if clip_input.kind == 'melgram':
        return log_melgram(samples)
    return samples.astype(np.float32)


def input_windows(path, clip_input=MELGRAM_INPUT, window='centre', hop=None,
                  decoder_delay='remove'):
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

    Returns
    -------
    list of (float, callable)
        Each window's start in seconds and a function that reads it (the
        model input array).  The file is opened (and an MP3 decoded) once;
        each window is read and resampled only when its function is called,
        possibly on another thread, so memory stays bounded for long files.

    Raises :class:`~chainer_tagger.errors.InputError` for a file that
    cannot be read (here or from a window's function).
    """
    if is_melgram_file(path):
        if clip_input.kind != 'melgram':
            raise InputError('{}: a melgram .npy cannot feed a model of raw '
                             'audio'.format(path))
        if window != 'centre':
            raise InputError('{}: --window full needs audio, not a melgram '
                             '.npy'.format(path))
        return [(0.0, lambda: read_melgram_npy(path))]
    source = _guarded(path, AudioSource, path, decoder_delay)
    n = source.length_at(clip_input.sample_rate)
    if window == 'centre':
        starts = [centre_window(n, clip_input.n_samples)[0]]
    else:
        starts = window_starts(n, hop or clip_input.seconds,
                               clip_input.n_samples, clip_input.sample_rate)
    return [(start / float(clip_input.sample_rate),
             functools.partial(_guarded, path, _model_input, source, start,
                               clip_input))
            for start in starts]


def _guarded(path, function, *args):
    """``function(*args)``, any failure of a decoder on bad data turned into
    an :class:`~chainer_tagger.errors.InputError` naming ``path``."""
    try:
        return function(*args)
    except InputError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise InputError('{}: cannot read ({}: {})'.format(
            path, type(e).__name__, e)) from None


def clip_windows(path, clip_input=MELGRAM_INPUT, window='centre', hop=None,
                 decoder_delay='remove'):
    """Model inputs of one file, ``(start_seconds, array)`` per window,
    read one after the other (see :func:`input_windows`)."""
    for start, read in input_windows(path, clip_input, window, hop,
                                     decoder_delay):
        yield start, read()


def read_input(path, clip_input=MELGRAM_INPUT, decoder_delay='remove'):
    """The centre-window model input of one file (by default Choi's
    melgram, ``(96, 1366)``): an audio file or a ``.npy`` melgram."""
    [(_, read)] = input_windows(path, clip_input,
                                decoder_delay=decoder_delay)
    return read()
