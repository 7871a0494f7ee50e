"""The cache of converted model files, verified on every load.

Each converted ``.npz`` in the cache has its sha256 beside it
(``<file>.sha256``, written after the file).  A file that no longer
matches (truncated, emptied, a flipped bit) or that has no checksum is
reported and rebuilt from the verified upstream source by the registry,
instead of failing with ``BadZipFile`` on every run.  Leftovers of
conversions that were killed (``.partial-*``) are removed.
"""
import hashlib
import os
from pathlib import Path

from chainer_tagger.atomic_file import (remove_stale_partials,
                                        write_text_atomic, writable_folder)
from chainer_tagger.errors import FolderError

CHECKSUM_SUFFIX = '.sha256'


def sha256sum(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path):
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def record_checksum(path):
    """Write ``path``'s sha256 beside it (atomically)."""
    write_text_atomic(checksum_path(path), sha256sum(path) + '\n')


def damage(path):
    """What is wrong with cached file ``path``: None when its sha256 is the
    recorded one, else a short reason."""
    try:
        recorded = checksum_path(path).read_text().strip()
    except FileNotFoundError:
        return 'no checksum recorded beside it'
    except OSError as e:
        return 'its checksum cannot be read ({})'.format(e.strerror or e)
    try:
        actual = sha256sum(path)
    except OSError as e:
        return 'it cannot be read ({})'.format(e.strerror or e)
    if actual != recorded:
        return 'damaged: its sha256 {} is not the recorded {} (size {} ' \
               'bytes)'.format(actual[:12], recorded[:12],
                               os.path.getsize(path))
    return None


def discard(path):
    """Remove a cached file and its checksum."""
    for p in (Path(path), checksum_path(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def ready(folder):
    """The cache folder, created and writable (else a one-line
    :class:`~chainer_tagger.errors.FolderError` that names
    ``$CHAINER_TAGGER_CACHE``), with stale ``.partial-*`` files removed."""
    try:
        writable_folder(folder, 'cache folder')
    except FolderError as e:
        raise FolderError('{} (set $CHAINER_TAGGER_CACHE to another '
                          'folder)'.format(e)) from None
    remove_stale_partials(folder)
    return Path(folder)
