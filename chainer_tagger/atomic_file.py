"""Writing files so that a crash or Ctrl-C never leaves half of one."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode='wb', suffix=''):
    """Open a temporary file beside ``path``; rename it into place on success.

    On any exception (KeyboardInterrupt included) the temporary file is
    removed and an existing ``path`` is left as it was.

    >>> with atomic_write('out.json', 'w') as f:   # doctest: +SKIP
    ...     f.write('{}')
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.partial-', suffix=suffix, dir=folder)
    try:
        encoding = None if 'b' in mode else 'utf8'
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    with atomic_write(path, 'w') as f:
        f.write(text)
