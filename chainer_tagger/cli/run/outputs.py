"""Checks of the files a command writes against the files it reads, before
any work (they scan the inputs as the commands do, so they live with what
the commands do, not with the parsers)."""
import os

from chainer_tagger.audio import expand_paths
from chainer_tagger.errors import UsageError


def check_output(path, inputs=(), option='-o'):
    """Check one output (``-o PATH``, or another ``option``) against
    ``inputs`` (folders scanned as the commands scan them) before any
    work; see :func:`check_outputs`.  Returns ``path``."""
    check_outputs([(option, path)], scanned=inputs)
    return os.fspath(path)


def _identity(path):
    """``(st_dev, st_ino)`` of what ``path`` names, links followed and
    ``..`` taken as the writers take it (``x/../a`` is ``a`` even without
    a folder ``x``); None when nothing is there."""
    try:
        st = os.stat(os.path.realpath(path))
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_outputs(outputs, read=(), scanned=(), create_folders=True):
    """Check every file a command will write against every file it will
    read, before any work; a one-line :class:`UsageError` for the first
    problem.

    Parameters
    ----------
    outputs : list of (option, path)
        What the command writes (``('-o', path)``, ``('--db', path)``...;
        a None path is skipped).  Each must not be a folder, its folder
        must be creatable and writable, and no two may be the same file.
    read : list of path
        Files read as they are (a model file, a source to convert).
    scanned : list of path
        The command's PATH arguments, folders scanned for the files the
        run will read (:func:`~chainer_tagger.audio.expand_paths`).
    create_folders : bool
        Create each output's folder now (and check that it is writable);
        without, the command creates its folder itself, once its own
        checks have passed (``train --out``).

    Files are compared by what they are, ``(st_dev, st_ino)`` after links
    are followed, so a link, a relative path or a second name of an input
    is caught; files that do not exist yet are compared by their resolved
    path.  An output that is one of the inputs would be replaced by the
    run (the docs promise it never is).
    """
    outputs = [(option, os.fspath(path)) for option, path in outputs
               if path is not None]
    for option, path in outputs:
        if os.path.isdir(path):
            raise UsageError('{} {}: is a folder; name a file to '
                             'write'.format(option, path))
        if create_folders:
            _check_writable(option, path)
    seen = {}
    for option, path in outputs:
        key = _identity(path) or os.path.realpath(path)
        if key in seen:
            raise UsageError('{} {} and {} {}: the same file; name two '
                             'files'.format(seen[key][0], seen[key][1],
                                            option, path))
        seen[key] = (option, path)
    existing = {_identity(path): (option, path) for option, path in outputs}
    existing.pop(None, None)
    if not existing:
        return
    files = [os.fspath(p) for p in read if p is not None] + \
        [os.fspath(p) for p in expand_paths(list(scanned))]
    for given in files:
        hit = existing.get(_identity(given))
        if hit is not None:
            raise UsageError(
                '{} {}: is one of the inputs{}; writing there would replace '
                'it'.format(hit[0], hit[1], '' if os.path.abspath(given) ==
                            os.path.abspath(hit[1]) else ' ({})'.format(
                                given)))


def _check_writable(option, path):
    """Not a folder, and a file that can be written: a special file
    (``/dev/null``, a pipe) writable in place, else a folder that exists
    or can be created, and is writable."""
    if os.path.isdir(path):
        raise UsageError('{} {}: is a folder; name a file to write'.format(
            option, path))
    if os.path.exists(path) and not os.path.isfile(path):
        # /dev/null, /dev/stdout, a named pipe: written in place
        # (atomic_write), so only the path itself must be writable.
        if not os.access(path, os.W_OK):
            raise UsageError('{} {}: not writable'.format(option, path))
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError('{} {}: cannot create its folder {} ({})'.format(
            option, path, folder, e.strerror or e)) from None
    if not os.access(folder, os.W_OK):
        raise UsageError('{} {}: the folder {} is not writable'.format(
            option, path, folder))
