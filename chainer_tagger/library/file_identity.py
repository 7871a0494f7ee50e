"""What identifies the content of a file between runs: its size and
modification time, and with ``--rehash`` its sha256.

Size and mtime are what ``make``, ``rsync`` and music players use: cheap to
read for a whole library, and changed by every ordinary edit.  The content
hash also catches a file replaced by one of the same size whose mtime was
kept (``cp -p``, ``touch -r``), at the cost of reading every file.
"""
import collections
import os

from chainer_tagger.pretrained.cache import sha256sum

#: ``size`` (bytes), ``mtime_ns`` (``st_mtime_ns``), ``sha256`` (hex, or
#: None when not computed).
FileIdentity = collections.namedtuple('FileIdentity', 'size mtime_ns sha256')


def identify(path, with_hash=False):
    """The :class:`FileIdentity` of ``path`` now (``OSError`` when it cannot
    be read); symbolic links are followed, as the audio is read through
    them."""
    st = os.stat(path)
    return FileIdentity(st.st_size, st.st_mtime_ns,
                        sha256sum(path) if with_hash else None)


def same_file(now, recorded):
    """Whether a file whose identity is ``now`` still is the one
    ``recorded``: size and mtime equal, and the sha256 too when both
    have one."""
    if (now.size, now.mtime_ns) != (recorded.size, recorded.mtime_ns):
        return False
    return now.sha256 is None or recorded.sha256 is None or \
        now.sha256 == recorded.sha256


def path_key(path):
    """How the store names a file: the bytes of its absolute path, so a
    re-run from another folder, or with names that are not valid UTF-8,
    finds the same entry."""
    return os.fsencode(os.path.abspath(path))
