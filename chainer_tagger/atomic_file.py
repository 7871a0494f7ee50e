"""Writing files so that a crash or Ctrl-C never leaves half of one.

A file is written under a temporary name (``.partial-*``) beside its
target and renamed into place when complete.  While it is written, the
temporary file is locked (``flock``), so a later run can tell the
leftover of a killed writer (unlocked) from a file another process is
still writing, and remove only the former
(:func:`remove_stale_partials`).
"""
import contextlib
import os
import stat
import tempfile
import time

from chainer_tagger.errors import FolderError

try:
    import fcntl
except ImportError:  # not POSIX: leftovers are recognised by their age
    fcntl = None

PARTIAL_PREFIX = '.partial-'
#: Without ``flock``, a leftover older than this many seconds is stale.
STALE_SECONDS = 24 * 3600


@contextlib.contextmanager
def atomic_write(path, mode='wb', suffix='', permissions=0o644):
    """Open a temporary file beside ``path``; rename it into place on success.

    On any exception (KeyboardInterrupt included) the temporary file is
    removed and an existing ``path`` is left as it was.  A ``path`` that
    exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a
    named pipe) is written in place instead; a link to a file keeps the
    link and replaces the file.  Text is UTF-8;
    file names that are not valid UTF-8 (surrogate escapes) are written as
    their original bytes.  The file gets ``permissions`` (a file rewritten
    in place keeps its own by passing them).

    >>> with atomic_write('out.json', 'w') as f:   # doctest: +SKIP
    ...     f.write('{}')
    """
    path = os.fspath(path)
    text = {} if 'b' in mode else {'encoding': 'utf8',
                                   'errors': 'surrogateescape'}
    try:
        is_file = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # none yet (or a broken link): a new file
        is_file = True
    if not is_file:
        # A device, a FIFO or a terminal (``-o /dev/null``, ``-o
        # /dev/stdout``, a named pipe): written in place.  Renaming a
        # temporary file over it would replace the device itself with a
        # regular file (as root, /dev/null for the whole machine).
        with open(path, mode, **text) as f:
            yield f
        return
    # A link to a file: replace the file it points to, keep the link.
    path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=suffix,
                               dir=folder)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, permissions)
            os.replace(tmp, path)  # still locked: never seen as stale
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def writable_folder(path, what='folder'):
    """Create ``path`` if needed and check that it is a writable folder;
    else a :class:`~chainer_tagger.errors.FolderError` (one line) naming
    ``what`` it is for.  Returns ``path``."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise FolderError('{} {}: exists and is not a folder'.format(
            what, path)) from None
    except OSError as e:
        raise FolderError('{} {}: cannot be created ({})'.format(
            what, path, e.strerror or e)) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise FolderError('{} {}: not writable'.format(what, path))
    return path


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    with atomic_write(path, 'w') as f:
        f.write(text)


def remove_stale_partials(folder):
    """Remove the ``.partial-*`` files that killed writers left in
    ``folder``; returns their paths.

    A file another process is still writing is locked and kept.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(PARTIAL_PREFIX):
            continue
        path = os.path.join(folder, name)
        if _is_stale(path):
            try:
                os.remove(path)
            except OSError:
                continue
            removed.append(path)
    return removed


def _is_stale(path):
    if fcntl is None:
        try:
            return time.time() - os.path.getmtime(path) > STALE_SECONDS
        except OSError:
            return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # locked: someone is writing it
    finally:
        os.close(fd)
    return True
