"""Finding the files to work on under the paths a user gives."""
import os
from pathlib import Path

#: File name extensions taken from folders (files named explicitly are
#: always tried, whatever their extension).
AUDIO_EXTENSIONS = frozenset(
    '.mp3 .wav .flac .ogg .oga .opus .au .aif .aiff .m4a .wma'.split())


def expand_paths(paths):
    """Files to work on: the given files, and audio/``.npy`` files under
    folders.

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
