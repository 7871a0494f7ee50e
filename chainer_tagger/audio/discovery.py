"""Finding the files to work on under the paths a user gives."""
import os
import stat
from pathlib import Path

import numpy as np

from chainer_tagger.configuration import (  # noqa: F401 (SCAN_RULE)
    AUDIO_EXTENSIONS, MELGRAM_NPY_SHAPES, SCAN_RULE)


#: What :func:`special_file_kind` calls each kind of file that is not a
#: regular file or a folder.
SPECIAL_KINDS = ((stat.S_ISFIFO, 'a named pipe (FIFO)'),
                 (stat.S_ISSOCK, 'a socket'),
                 (stat.S_ISCHR, 'a character device'),
                 (stat.S_ISBLK, 'a block device'))


def special_file_kind(mode):
    """What a file of ``st_mode`` ``mode`` is when it is neither a regular
    file nor a folder (``'a named pipe (FIFO)'``, ``'a socket'``, ...), or
    None.

    Opening such a file can block forever (a pipe with no writer) or read
    without end (``/dev/zero``), so it is recognised from ``stat`` alone,
    before anything opens it.
    """
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, kind in SPECIAL_KINDS:
        if test(mode):
            return kind
    return 'a special file'


def npy_shape(path):
    """The array shape a ``.npy`` declares in its header, or None when the
    file is not a readable ``.npy`` (only the header is read; a file that
    is not a regular file is never opened)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            return header(f)[0]
    except Exception:  # any bytes at all: a scan never stops on a file
        return None


def is_scanned(name, path):
    """Whether a folder scan takes the file ``name`` at ``path``: an audio
    extension, or a ``.npy`` of a melgram's shape; never a hidden file.

    A named pipe, socket or device is taken whatever its name, without
    being opened: a music folder holds none, so it is reported (as not a
    regular file) rather than skipped without a word, or waited on.
    """
    if name.startswith('.'):
        return False
    suffix = Path(name).suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # a broken link: nothing to read, as before
    if special_file_kind(mode) is not None:
        return True
    return suffix == '.npy' and npy_shape(path) in MELGRAM_NPY_SHAPES


def expand_paths(paths):
    """Files to work on: the given files, and what :data:`SCAN_RULE` takes
    from folders.

    Folders are walked recursively in sorted order.  Paths that do not
    exist, and sub-folders that cannot be listed (permission denied), are
    kept in the list, so that they are reported as failures with the
    others rather than skipped without a word.
    """
    out = []
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            out.append(p)
            continue
        unreadable = []
        for root, dirs, files in os.walk(p, onerror=unreadable.append):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            out.extend(Path(root) / name for name in sorted(files)
                       if is_scanned(name, os.path.join(root, name)))
        out.extend(Path(e.filename) for e in unreadable)
    return out
