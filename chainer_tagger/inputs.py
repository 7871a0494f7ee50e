"""Finding the inputs to tag, and reading each into a mel-spectrogram."""
import os
from pathlib import Path

import numpy as np

from chainer_tagger.audio import AudioDecodeError
from chainer_tagger.links.model.melgram_tagger import N_FRAMES, N_MELS

#: File name extensions taken from folders (files named explicitly are
#: always tried, whatever their extension).
AUDIO_EXTENSIONS = frozenset(
    '.mp3 .wav .flac .ogg .oga .opus .au .aif .aiff .m4a .wma'.split())


class InputError(ValueError):
    """An input that cannot be turned into a mel-spectrogram."""


def expand_paths(paths):
    """Files to tag: the given files, and audio/``.npy`` files under folders.

    Folders are walked recursively in sorted order.  Paths that do not exist
    are kept, so that they are reported as failures with the others.
    """
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    suffix = Path(name).suffix.lower()
                    if suffix in AUDIO_EXTENSIONS or suffix == '.npy':
                        out.append(Path(root) / name)
        else:
            out.append(p)
    return out


def read_melgram_npy(path):
    """A melgram saved as ``.npy``, shape (96, 1366) or (1, 1, 96, 1366)."""
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
    return x.reshape(N_MELS, N_FRAMES).astype(np.float32)


def read_input(path):
    """Mel-spectrogram of one input: an audio file or a ``.npy`` melgram."""
    from chainer_tagger.features import melgram
    path = Path(path)
    if path.suffix.lower() == '.npy':
        return read_melgram_npy(path)
    try:
        return melgram(path)
    except AudioDecodeError as e:
        raise InputError(str(e)) from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # a decoder's unexpected failure on bad data
        raise InputError('{}: cannot read ({}: {})'.format(
            path, type(e).__name__, e)) from None
