"""Writing a model's tags into audio files' own metadata (mutagen).

Music players and library managers (beets, Picard, foobar2000, Kodi) read
custom fields, so the tags go into one field named after the model
(:func:`field_name`): an ID3 ``TXXX`` frame in an mp3, a Vorbis comment in
FLAC and Ogg (Vorbis, Opus), a freeform atom in an m4a.  Each value is one
tag and its score, best first: ``jazz 0.299``.  The standard genre field
is set only when asked (the best tag).

What is never risked:

* the audio: the tags are written into a copy of the file; before the copy
  replaces the file, the audio bytes of both are compared
  (:func:`audio_digest`: the MPEG frames, the FLAC frames, the Ogg audio
  packets, the MP4 ``mdat`` data) and the copy is dropped if they differ;
* a half-written file: the copy is renamed over the file (atomic), with
  the file's permissions;
* a file that changed since it was tagged (size, mtime, or sha256 with
  ``--rehash``, against what the store recorded), or that changes while
  its tags are written: it is not touched;
* a read-only file (no write permission for its owner, even for root), or
  one whose folder cannot take the copy: reported, left as it was.

The copy is a new file: hard links to the old one keep the old bytes, and
it belongs to the user who writes it.
"""
import collections
import hashlib
import os
import re
import shutil
import stat

import mutagen
from mutagen.flac import FLAC
from mutagen.id3 import TCON, TXXX, Encoding
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, AtomDataType, MP4FreeForm
from mutagen.ogg import OggPage
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import (FILE_TAGS_FIELD_PREFIX,
                                          MP4_FREEFORM_MEAN)
from chainer_tagger.errors import TagWriteError
from chainer_tagger.library.file_identity import identify, same_file

#: One file's outcome: ``status`` is ``'written'``, ``'would write'``
#: (``dry_run``), ``'unchanged'`` (it already holds these tags),
#: ``'failed'`` (``reason`` says why) or ``'skipped'`` (a format without
#: tags: ``reason`` says which formats have them); ``changes`` maps each
#: field that is (or would be) written to its new values; ``identity`` is
#: the file's :class:`~chainer_tagger.library.file_identity.
#: FileIdentity` after writing (None unless written).
TagOutcome = collections.namedtuple(
    'TagOutcome', 'path status changes identity reason')

CHUNK = 1 << 20


def field_name(model_name):
    """The metadata field of a model's tags: ``chainer-tagger:crnn-msd``;
    a model file's base name without its extension, other characters
    than letters, digits, ``.``, ``_`` and ``-`` as ``_`` (Vorbis field
    names must be printable ASCII without ``=``)."""
    name = os.path.basename(os.fspath(model_name))
    stem, ext = os.path.splitext(name)
    if ext.lower() in ('.npz', '.h5', '.hdf5'):
        name = stem
    return FILE_TAGS_FIELD_PREFIX + re.sub(r'[^A-Za-z0-9._-]', '_', name)


def tag_values(result, k):
    """The ``k`` best tags of a result as field values, best first:
    ``['jazz 0.299', ...]`` (three decimals: what a player shows)."""
    return ['{} {:.3f}'.format(t['tag'], t['score'])
            for t in result['tags'][:k]]


def parse_values(values):
    """``[(tag, score), ...]`` from field values written by
    :func:`tag_values` (tags may contain spaces)."""
    out = []
    for v in values:
        name, score = v.rsplit(' ', 1)
        out.append((name, float(score)))
    return out


# --- the containers -------------------------------------------------------

def _skip_id3v2(f, start=0):
    """Offset after the ID3v2 tags that start at ``start``: a 10-byte
    header whose size is 4 syncsafe bytes, and a 10-byte footer when its
    flag is set."""
    while True:
        f.seek(start)
        head = f.read(10)
        if len(head) < 10 or head[:3] != b'ID3':
            return start
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        start += 10 + size + (10 if head[5] & 0x10 else 0)


def _file_size(f):
    return f.seek(0, os.SEEK_END)


def _digest_range(f, start, end):
    digest = hashlib.sha256()
    f.seek(start)
    left = end - start
    while left > 0:
        block = f.read(min(CHUNK, left))
        if not block:
            break
        digest.update(block)
        left -= len(block)
    return digest.hexdigest()


def _mpeg_digest(f):
    """The MPEG audio frames: between the ID3v2 tags at the start and an
    ID3v1 tag (``TAG``, 128 bytes) at the end."""
    start = _skip_id3v2(f)
    end = _file_size(f)
    if end - start >= 128:
        f.seek(end - 128)
        if f.read(3) == b'TAG':
            end -= 128
    return _digest_range(f, start, end)


def _flac_digest(f):
    """The FLAC frames: what follows the metadata blocks (each a 4-byte
    header: last-block flag and type, 24-bit length)."""
    pos = _skip_id3v2(f)
    f.seek(pos)
    if f.read(4) != b'fLaC':
        raise TagWriteError('not a FLAC stream')
    pos += 4
    while True:
        head = f.read(4)
        if len(head) < 4:
            raise TagWriteError('FLAC metadata ends early')
        pos += 4 + int.from_bytes(head[1:4], 'big')
        f.seek(pos)
        if head[0] & 0x80:
            return _digest_range(f, pos, _file_size(f))


#: Header packets before the audio in an Ogg stream, by codec.
OGG_HEADER_PACKETS = {b'\x01vorbis': 3, b'OpusHead': 2}


def _ogg_digest(f):
    """The audio packets of an Ogg Vorbis or Opus stream, with their
    granule positions: writing a comment re-pages the header packets and
    renumbers later pages (their sequence numbers and CRCs change), never
    the audio packets."""
    f.seek(0)
    digest = hashlib.sha256()
    headers, done = None, 0
    while True:
        try:
            page = OggPage(f)
        except EOFError:
            break
        if headers is None:
            first = page.packets[0] if page.packets else b''
            headers = next((n for magic, n in OGG_HEADER_PACKETS.items()
                            if first.startswith(magic)), None)
            if headers is None:
                raise TagWriteError('an Ogg stream that is neither Vorbis '
                                    'nor Opus')
        if done < headers:
            done += len(page.packets) - (0 if page.complete else 1)
            continue
        digest.update(page.position.to_bytes(8, 'big', signed=True))
        digest.update(bytes([page.continued, page.complete]))
        for packet in page.packets:
            digest.update(len(packet).to_bytes(4, 'big'))
            digest.update(packet)
    return digest.hexdigest()


def _mp4_digest(f):
    """The data of every top-level ``mdat`` atom, in order (writing tags
    changes ``moov`` and moves ``mdat``; its bytes stay as they are)."""
    digest = hashlib.sha256()
    end, pos = _file_size(f), 0
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        size, kind = int.from_bytes(head[:4], 'big'), head[4:8]
        header = 8
        if size == 1:
            size = int.from_bytes(f.read(8), 'big')
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise TagWriteError('a damaged MP4 atom at byte {}'.format(pos))
        if kind == b'mdat':
            digest.update(_digest_range(f, pos + header, pos + size).encode())
        pos += size
    return digest.hexdigest()


class _ID3Fields:
    """mp3: a ``TXXX`` frame (user text, description = field name), and
    ``TCON`` for the genre."""

    digest = staticmethod(_mpeg_digest)

    @staticmethod
    def open(f):
        audio = MP3(f)
        if audio.tags is None:
            audio.add_tags()
        return audio

    @staticmethod
    def get(audio, field):
        frames = audio.tags.getall('TXXX:' + field)
        return list(frames[0].text) if frames else []

    @staticmethod
    def set(audio, field, values):
        audio.tags.delall('TXXX:' + field)
        audio.tags.add(TXXX(encoding=Encoding.UTF8, desc=field,
                            text=values))

    @staticmethod
    def get_genre(audio):
        frames = audio.tags.getall('TCON')
        return list(frames[0].text) if frames else []

    @staticmethod
    def set_genre(audio, genre):
        audio.tags.delall('TCON')
        audio.tags.add(TCON(encoding=Encoding.UTF8, text=[genre]))


class _VorbisFields:
    """FLAC, Ogg Vorbis, Ogg Opus: a Vorbis comment per value, and
    ``GENRE``."""

    def __init__(self, classes, digest):
        self.classes = classes
        self.digest = digest

    def open(self, f):
        audio = mutagen.File(f, options=self.classes)
        if audio is None:
            raise TagWriteError('not {}'.format(' or '.join(
                c.__name__ for c in self.classes)))
        if audio.tags is None:
            audio.add_tags()
        return audio

    @staticmethod
    def get(audio, field):
        return list(audio.tags.get(field, []))

    @staticmethod
    def set(audio, field, values):
        audio.tags[field] = list(values)

    @staticmethod
    def get_genre(audio):
        return list(audio.tags.get('genre', []))

    @staticmethod
    def set_genre(audio, genre):
        audio.tags['genre'] = [genre]


class _MP4Fields:
    """m4a: a freeform atom ``----:com.apple.iTunes:<field>`` (UTF-8
    values), and ``\u00a9gen`` for the genre."""

    digest = staticmethod(_mp4_digest)

    @staticmethod
    def _key(field):
        return '----:{}:{}'.format(MP4_FREEFORM_MEAN, field)

    @staticmethod
    def open(f):
        audio = MP4(f)
        if audio.tags is None:
            audio.add_tags()
        return audio

    @classmethod
    def get(cls, audio, field):
        return [bytes(v).decode('utf-8', 'replace')
                for v in audio.tags.get(cls._key(field), [])]

    @classmethod
    def set(cls, audio, field, values):
        audio.tags[cls._key(field)] = [
            MP4FreeForm(v.encode('utf-8'), dataformat=AtomDataType.UTF8)
            for v in values]

    @staticmethod
    def get_genre(audio):
        return list(audio.tags.get('\xa9gen', []))

    @staticmethod
    def set_genre(audio, genre):
        audio.tags['\xa9gen'] = [genre]


#: The formats tags are written into, by file name extension.
CONTAINERS = {
    '.mp3': _ID3Fields,
    '.flac': _VorbisFields([FLAC], _flac_digest),
    '.ogg': _VorbisFields([OggVorbis, OggOpus], _ogg_digest),
    '.oga': _VorbisFields([OggVorbis, OggOpus], _ogg_digest),
    '.opus': _VorbisFields([OggOpus], _ogg_digest),
    '.m4a': _MP4Fields, '.m4b': _MP4Fields, '.mp4': _MP4Fields,
}
SUPPORTED_RULE = 'tags are written into {} files only'.format(
    ', '.join(sorted(CONTAINERS)))


def _extension(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def _container(path):
    try:
        return CONTAINERS[_extension(path)]
    except KeyError:
        raise TagWriteError(SUPPORTED_RULE) from None


def audio_digest(path):
    """sha256 of the audio data of a file tags can be written into (see
    the module docstring): equal before and after tags are written."""
    container = _container(path)
    with open(path, 'rb') as f:
        return container.digest(f)


def read_fields(path, field):
    """``(values of field, genre values)`` as the file holds them now."""
    container = _container(path)
    with open(path, 'rb') as f:
        audio = container.open(f)
        return container.get(audio, field), container.get_genre(audio)


def _writable(st):
    """A file whose owner may write it: the write bit is the user's say,
    so a read-only file is refused even to root (who ignores it)."""
    return bool(st.st_mode & stat.S_IWUSR)


def write_tags(path, field, values, genre=None, expected=None,
               dry_run=False):
    """Write ``values`` into ``field`` of an audio file (and ``genre`` into
    its genre field, when given), through a copy renamed over the file.

    Parameters
    ----------
    path : str or path-like
    field : str
        See :func:`field_name`.
    values : list of str
        See :func:`tag_values`.
    genre : str, optional
    expected : FileIdentity, optional
        The file as it was when it was tagged: a file that no longer
        matches is not touched.
    dry_run : bool
        Say what would change, write nothing.

    Returns
    -------
    TagOutcome
        Never raises for a file that cannot be written: the outcome is
        ``'failed'`` with the reason (``'skipped'`` for a format that holds
        no tags, such as WAV), and the file is as it was.
    """
    if _extension(path) not in CONTAINERS:
        return TagOutcome(path, 'skipped', {}, None, SUPPORTED_RULE)
    try:
        container = _container(path)
        target = os.path.realpath(path)  # a link stays a link
        before = identify(target, expected is not None and
                          expected.sha256 is not None)
        if expected is not None and not same_file(before, expected):
            raise TagWriteError(
                'changed since it was tagged (size, mtime{} differ from '
                'the stored entry); not written: tag it again first'.format(
                    ' or sha256' if expected.sha256 else ''))
        st = os.stat(target)
        with open(target, 'rb') as f:
            audio = container.open(f)
            changes = {}
            if container.get(audio, field) != list(values):
                changes[field] = list(values)
            if genre is not None and container.get_genre(audio) != [genre]:
                changes['genre'] = [genre]
        if not changes:
            return TagOutcome(path, 'unchanged', {}, None, None)
        if not _writable(st):
            raise TagWriteError('read-only (mode {:04o}); not written'.format(
                stat.S_IMODE(st.st_mode)))
        if dry_run:
            return TagOutcome(path, 'would write', changes, None, None)
        _write_copy(target, container, field, values, genre, st)
        after = identify(target, before.sha256 is not None)
        return TagOutcome(path, 'written', changes, after, None)
    except (TagWriteError, OSError, mutagen.MutagenError, ValueError) as e:
        return TagOutcome(path, 'failed', {}, None, _reason(e))


def _reason(error):
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _write_copy(target, container, field, values, genre, st):
    """Copy ``target``, write the tags into the copy, check its audio and
    that ``target`` did not change meanwhile, rename it over ``target``."""
    suffix = os.path.splitext(target)[1]
    with atomic_write(target, 'w+b', suffix=suffix,
                      permissions=stat.S_IMODE(st.st_mode)) as f:
        with open(target, 'rb') as src:
            shutil.copyfileobj(src, f, CHUNK)
        f.flush()
        original = container.digest(f)
        f.seek(0)
        audio = container.open(f)
        container.set(audio, field, values)
        if genre is not None:
            container.set_genre(audio, genre)
        f.seek(0)
        audio.save(f)
        f.flush()
        if container.digest(f) != original:
            raise TagWriteError('writing the tags would change the audio '
                                'data; not written')
        now = os.stat(target)
        if (now.st_size, now.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            raise TagWriteError('changed while its tags were written; not '
                                'written')
