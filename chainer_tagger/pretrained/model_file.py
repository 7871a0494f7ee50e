"""The model file: a Chainer ``.npz`` that describes itself, read safely.

Besides the link's parameters (as :func:`chainer.serializers.save_npz`
writes them) the file holds a JSON document under the key ``_meta``:
the architecture, its settings and where the weights came from, so that
``chainer-tagger tag --model my.npz`` can rebuild the model.

Why this module reads ``.npz`` files itself: Chainer's ``load_npz`` opens
them with ``numpy.load(..., allow_pickle=True)``, and an object array in an
``.npz`` is a pickle, which runs code when it is loaded.  Model files are
what users share and what the cache and ``--resume`` read, so every
``.npz`` is read here, never unpickled: every entry's ``.npy`` header is
read (with a bound) and checked before any array is read, against the
shapes and types of the arrays the target already has and against the
zip entry's declared size, so a file can neither run code nor make us
allocate more than the model it claims to be; an object array is refused
with the file and the entry named.  The file format stays Chainer's, so
existing files still load.  A model file's ``_meta`` is bounded (size,
nesting) and validated (known architecture, settings of the expected
names, types, ranges and choices) before anything is built from it.
"""
import collections
import contextlib
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np

import chainer

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import (
    MAX_CLASS_NAME, MAX_CLASSES, MAX_SETTING_TEXT, MODEL_META_MAX_BYTES,
    MODEL_META_MAX_DEPTH, NPY_MAX_HEADER_BYTES,
    NPZ_MAX_MEMBERS, NPZ_MAX_OBJECT_MEMBER_BYTES, NPZ_MAX_TOTAL_BYTES,
    NPZ_MAX_UNKNOWN_MEMBER_BYTES, VOCABULARIES, WINDOW_FILLS)
from chainer_tagger.errors import ModelFileError, UnsafeFileError
from chainer_tagger.pretrained.safe_pickle import load_arrays_only

META_KEY = '_meta'
#: The kinds of array a model file or snapshot holds: booleans, integers,
#: floats, text (the metadata, a log).  Objects are looked at separately.
_PLAIN_KINDS = 'biufU'
#: Bytes of the magic string, version and header length of each .npy
#: format version that a plain array is written in.
_HEADER_LENGTH = {(1, 0): '<H', (2, 0): '<I'}


def save_model_npz(path, link, meta):
    """Write ``link``'s parameters and ``meta`` to ``path`` atomically.

    The file is written under a temporary name in the same folder and
    renamed into place, so a crash or Ctrl-C never leaves a half-written
    ``path`` (an existing file stays as it was).
    """
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(link)
    arrays = {k: chainer.backends.cuda.to_cpu(v)
              for k, v in serializer.target.items()}
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_write(path, 'wb', suffix='.npz') as f:
        np.savez(f, **arrays)
    return path


#: What an entry's ``.npy`` header declares, and where its data starts.
_Header = collections.namedtuple('_Header', 'shape fortran dtype offset')


def _read_header(archive, info):
    """The ``.npy`` header of a zip entry, read with a bound on its length
    (NumPy reads a declared header whole before looking at its length)."""
    with archive.open(info) as f:
        prefix = f.read(8)
        if len(prefix) < 8 or prefix[:6] != b'\x93NUMPY':
            raise ValueError('not a .npy array')
        version = (prefix[6], prefix[7])
        if version not in _HEADER_LENGTH:
            raise ValueError('unsupported .npy format version {}.{}'.format(
                *version))
        size_format = _HEADER_LENGTH[version]
        length_bytes = f.read(struct.calcsize(size_format))
        if len(length_bytes) != struct.calcsize(size_format):
            raise ValueError('truncated .npy header')
        length = struct.unpack(size_format, length_bytes)[0]
        if length > NPY_MAX_HEADER_BYTES:
            raise ValueError('its .npy header declares {} bytes (at most {} '
                             'are read)'.format(length, NPY_MAX_HEADER_BYTES))
        header = f.read(length)
        if len(header) != length:
            raise ValueError('truncated .npy header')
    stream = io.BytesIO(prefix + length_bytes + header)
    np.lib.format.read_magic(stream)
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    try:
        shape, fortran, dtype = reader(stream,
                                       max_header_size=NPY_MAX_HEADER_BYTES)
    except Exception as e:  # noqa: B902 -- whatever a forged header does
        # (SyntaxError, RecursionError, tokenize.TokenError, ...), parsing
        # it is all that ran.
        raise ValueError('unreadable .npy header ({})'.format(
            type(e).__name__)) from None
    if any(n < 0 for n in shape):
        raise ValueError('its .npy header declares shape {}'.format(shape))
    return _Header(shape, fortran, dtype, len(stream.getvalue()))


def _size(shape):
    size = 1
    for n in shape:
        size *= int(n)
    return size


def _entry_kind(archive, info, header):
    """``'plain'`` (numbers, text), ``'none'`` (an object array of
    ``None`` only) or ``'objects'`` (anything else that would need
    unpickling).

    An object array's pickle is read by an unpickler that can rebuild
    arrays and nothing else, so a stream that names anything else is
    refused before it runs; only small ones are looked at.
    """
    if not header.dtype.hasobject:
        return 'plain'
    if info.file_size > NPZ_MAX_OBJECT_MEMBER_BYTES:
        return 'objects'
    with archive.open(info) as f:
        f.read(header.offset)
        try:
            value = load_arrays_only(io.BytesIO(
                f.read(NPZ_MAX_OBJECT_MEMBER_BYTES)))
        except (UnsafeFileError, pickle.UnpicklingError, EOFError,
                ValueError, TypeError, AttributeError, IndexError,
                MemoryError, RecursionError):
            return 'objects'
    if all(v is None for v in np.asarray(value, dtype=object).flat):
        return 'none'
    return 'objects'


def _can_hold(expected, found):
    """Whether an array of dtype ``found`` may be copied into one of dtype
    ``expected``: floats into floats, text into text, and integers or
    booleans as NumPy's 'same_kind' casting allows."""
    if expected.kind in 'fU':  # weights are floats, text is text
        return found.kind == expected.kind
    return found.kind in 'biu' and np.can_cast(found, expected,
                                               casting='same_kind')


def _shape_text(shape):
    return '({})'.format(', '.join(str(n) for n in shape) +
                         (',' if len(shape) == 1 else ''))


def _check_entry(path, key, info, header, expected):
    """Refuse an entry whose header does not say what ``expected`` (the
    target's ``(shape, dtype)`` of that key, or None when the target
    cannot tell) says, or that declares other bytes than the zip entry's
    size, or too many bytes; returns the bytes it declares."""
    dtype = header.dtype
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise ModelFileError(
            '{}: entry {!r} holds values of type {}; model files hold '
            'numbers and text only'.format(path, key, dtype))
    nbytes = _size(header.shape) * dtype.itemsize
    if key == META_KEY:
        if header.shape != () or dtype.kind != 'U':
            raise ModelFileError('{}: entry {!r} is not a text (shape {}, '
                                 'type {})'.format(path, key, header.shape,
                                                   dtype))
        if nbytes > 4 * MODEL_META_MAX_BYTES:
            raise ModelFileError(
                '{}: its metadata declares {} characters (at most {})'
                .format(path, nbytes // 4, MODEL_META_MAX_BYTES))
    elif expected is not None:
        shape, want = expected
        if tuple(header.shape) != tuple(shape) or not _can_hold(want, dtype):
            raise ModelFileError(
                '{}: entry {!r} is {} {}, the model expects {} {}'.format(
                    path, key, dtype, _shape_text(header.shape), want,
                    _shape_text(shape)))
    elif nbytes > NPZ_MAX_UNKNOWN_MEMBER_BYTES:
        raise ModelFileError(
            '{}: entry {!r} declares shape {} of {} ({} bytes, more than '
            'the {} an entry may hold)'.format(
                path, key, _shape_text(header.shape), dtype, nbytes,
                NPZ_MAX_UNKNOWN_MEMBER_BYTES))
    if info.file_size != header.offset + nbytes:
        raise ModelFileError(
            '{}: entry {!r} declares {} bytes of data ({} {}) but its zip '
            'entry holds {}; the file is damaged or forged'.format(
                path, key, nbytes, dtype, _shape_text(header.shape),
                info.file_size - header.offset))
    return nbytes


def _read_entry(archive, info, header):
    """The array of a checked entry: exactly the bytes its header
    declares, read into an array of that size (never more)."""
    dtype = header.dtype
    count = _size(header.shape)
    array = np.empty(count, dtype)
    buffer = memoryview(array.view(np.uint8).reshape(-1)) if count else None
    with archive.open(info) as f:
        f.read(header.offset)
        done = 0
        while buffer is not None and done < len(buffer):
            n = f.readinto(buffer[done:])
            if not n:
                raise EOFError('entry {!r} ends after {} of {} bytes'.format(
                    info.filename, done, len(buffer)))
            done += n
    if header.fortran:
        return array.reshape(header.shape[::-1]).transpose()
    return array.reshape(header.shape)


class _ShapeRecorder(chainer.serializer.Serializer):
    """A serializer that records the ``(shape, dtype)`` of every value a
    target would save, copying nothing: what a file must hold for it."""

    def __init__(self, target=None, path=''):
        self.target = {} if target is None else target
        self.path = path

    def __getitem__(self, key):
        return _ShapeRecorder(self.target, self.path + key.strip('/') + '/')

    def __call__(self, key, value):
        if value is not None:
            shape = getattr(value, 'shape', None)
            dtype = getattr(value, 'dtype', None)
            if shape is None or dtype is None:
                array = np.asarray(value)
                shape, dtype = array.shape, array.dtype
            self.target[self.path + key.lstrip('/')] = (tuple(shape),
                                                        np.dtype(dtype))
        return value


def expected_entries(target):
    """``{key: (shape, dtype)}`` of what ``target`` (a link, an optimizer,
    a trainer) stores in an ``.npz``, from its own arrays; values it does
    not hold yet are left out."""
    recorder = _ShapeRecorder()
    target.serialize(recorder)
    return recorder.target


class _PlainArrays:
    """The checked entries of an open ``.npz``: ``files``, ``key in``, and
    ``[key]`` reads one entry (entries that held only ``None``, as Chainer
    stores a trigger's unset best value, read as ``None`` again).  With
    ``finite``, an entry of floats that holds NaN or infinity is
    refused."""

    def __init__(self, path, archive, entries, none_keys, finite):
        self.path, self.archive = path, archive
        self.entries, self.none_keys = entries, none_keys
        self.finite = finite
        self.files = list(entries) + sorted(none_keys)

    def __contains__(self, key):
        return key in self.entries or key in self.none_keys

    def __getitem__(self, key):
        if key in self.none_keys:
            return np.array(None, dtype=object)
        info, header = self.entries[key]
        array = _read_entry(self.archive, info, header)
        if self.finite and array.dtype.kind == 'f':
            bad = np.count_nonzero(~np.isfinite(array))
            if bad:
                raise ModelFileError(
                    '{}: weight {!r} holds {} NaN or infinite values (of '
                    '{}); a model built from it would give NaN scores, so '
                    'the file is refused'.format(self.path, key, bad,
                                                 array.size))
        return array


_READ_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError,
                RuntimeError, NotImplementedError, struct.error,
                OverflowError)


@contextlib.contextmanager
def open_npz(path, expected=None, finite=False):
    """Open an ``.npz`` for reading plain arrays only, every entry checked
    before any array is read.

    Parameters
    ----------
    path : path-like
    expected : dict, optional
        ``{key: (shape, dtype)}`` that the file must hold where it has
        those keys (:func:`expected_entries` of the target); an entry of
        another shape or type is refused.  Entries it does not name may
        declare at most :data:`~chainer_tagger.configuration.
        NPZ_MAX_UNKNOWN_MEMBER_BYTES`, and all together
        :data:`~chainer_tagger.configuration.NPZ_MAX_TOTAL_BYTES`.
    finite : bool
        Refuse float entries that hold NaN or infinity (model weights).

    Every entry's ``.npy`` header is read with a bound on its length, and
    the bytes it declares must be what the zip entry declares: a few bytes
    that claim hundreds of gigabytes, or a compressed entry that would
    inflate past its declared size, are refused before anything is
    allocated, and entries are then read with that bound.  An entry holding
    Python objects (a pickle) other than ``None`` raises
    :class:`~chainer_tagger.errors.UnsafeFileError` naming the file and the
    entry, and no code runs.  Anything else that is not a readable model
    file raises :class:`~chainer_tagger.errors.ModelFileError`: one line
    naming the file and, where there is one, the entry.
    """
    path = os.fspath(path)
    expected = expected or {}
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS as e:
        raise ModelFileError('{}: not a readable .npz ({})'.format(
            path, e)) from None
    with archive:
        try:
            entries, none_keys = _check_entries(path, archive, expected)
        except ModelFileError:
            raise
        except _READ_ERRORS as e:
            raise ModelFileError('{}: not a readable .npz ({})'.format(
                path, e)) from None
        arrays = _PlainArrays(path, archive, entries, none_keys, finite)
        try:
            yield arrays
        except ModelFileError:
            raise
        except _READ_ERRORS as e:
            raise ModelFileError('{}: not a readable .npz ({})'.format(
                path, e)) from None


def _check_entries(path, archive, expected):
    infos = archive.infolist()
    if len(infos) > NPZ_MAX_MEMBERS:
        raise ModelFileError('{}: {} entries (a model file has at most {})'
                             .format(path, len(infos), NPZ_MAX_MEMBERS))
    entries, none_keys, total = collections.OrderedDict(), set(), 0
    for info in infos:
        if not info.filename.endswith('.npy'):
            raise ModelFileError('{}: entry {!r} is not a .npy array'.format(
                path, info.filename))
        key = info.filename[:-4]
        if key in entries or key in none_keys:
            raise ModelFileError('{}: entry {!r} is in the file twice'.format(
                path, key))
        try:
            header = _read_header(archive, info)
        except ValueError as e:
            raise ModelFileError('{}: entry {!r}: {}'.format(
                path, key, e)) from None
        kind = _entry_kind(archive, info, header)
        if kind == 'none':
            none_keys.add(key)
            continue
        if kind == 'objects':
            raise UnsafeFileError(
                '{}: entry {!r} holds Python objects (a pickle, which would '
                'run code when loaded); model files hold plain arrays '
                'only, so the file is refused'.format(path, key))
        total += _check_entry(path, key, info, header, expected.get(key))
        if total > NPZ_MAX_TOTAL_BYTES:
            raise ModelFileError('{}: its entries declare more than {} bytes'
                                 .format(path, NPZ_MAX_TOTAL_BYTES))
        entries[key] = (info, header)
    return entries, none_keys


def load_npz_safely(path, target, strict=True, finite=False):
    """:func:`chainer.serializers.load_npz` without unpickling: ``target``
    (a link, an optimizer or a trainer) is deserialized from ``path``
    opened by :func:`open_npz`, whose entries must have the shapes and
    types of ``target``'s arrays (checked before any is read)."""
    with open_npz(path, expected_entries(target), finite) as npz:
        try:
            chainer.serializers.NpzDeserializer(npz, strict=strict).load(
                target)
        except (KeyError, ValueError, TypeError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError('{}: does not fit the model ({}: {})'.format(
                path, type(e).__name__, e)) from None


def _refuse_constant(name):
    raise ValueError('{} is not a number a model file may hold'.format(name))


def _depth(value):
    """How deep JSON containers nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MODEL_META_MAX_DEPTH:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def read_model_meta(path):
    """Return the ``_meta`` document of a model file (not validated; see
    :func:`validate_meta`): a JSON object of bounded size and nesting."""
    with open_npz(path) as npz:
        if META_KEY not in npz.files:
            raise ModelFileError(
                '{}: a .npz without chainer-tagger metadata; convert '
                'Keras weights with `chainer-tagger convert`'.format(path))
        text = str(npz[META_KEY][()])
    try:
        meta = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ModelFileError('{}: its metadata nests deeper than {} levels'
                             .format(path, MODEL_META_MAX_DEPTH)) from None
    except ValueError as e:
        raise ModelFileError('{}: unreadable metadata ({})'.format(
            path, e)) from None
    if not isinstance(meta, dict):
        raise ModelFileError('{}: metadata is not a JSON object'.format(path))
    if _depth(meta) > MODEL_META_MAX_DEPTH:
        raise ModelFileError('{}: its metadata nests deeper than {} levels'
                             .format(path, MODEL_META_MAX_DEPTH))
    return meta


class Setting(collections.namedtuple(
        'Setting', 'types choices low high below max_items')):
    """What a model file may give one setting of a model class (an entry
    of its ``settings_types``): the types, and the values it may take.

    ``choices``: the values a string (or an int) may be; ``low`` and
    ``high`` (inclusive) or ``below`` (exclusive): a number's range;
    ``max_items``: how many strings a list may hold (each at most
    :data:`~chainer_tagger.configuration.MAX_CLASS_NAME` characters, at
    least one).  A plain type or tuple of types in ``settings_types`` is a
    :class:`Setting` with no more than its types.
    """

    def __new__(cls, types, choices=None, low=None, high=None, below=None,
                max_items=None):
        types = types if isinstance(types, tuple) else (types,)
        return super().__new__(cls, types, choices, low, high, below,
                               max_items)

    def check(self, path, key, value):
        """Raise a one-line :class:`ModelFileError` unless ``value`` is
        one this setting may take."""
        # bool is an int to isinstance; a flag is no number here.
        if not isinstance(value, self.types) or (
                isinstance(value, bool) and bool not in self.types):
            raise ModelFileError('{}: setting {!r} must be {}, not {}'.format(
                path, key, ' or '.join(t.__name__ for t in self.types),
                _short(value)))
        if self.choices is not None and isinstance(value, (str, int)) and \
                not isinstance(value, bool) and value not in self.choices:
            raise ModelFileError('{}: setting {!r} must be one of {}, not {}'
                                 .format(path, key, ', '.join(
                                     map(str, self.choices)), _short(value)))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_range(path, key, value)
        if isinstance(value, list):
            self._check_names(path, key, value)
        if isinstance(value, str) and len(value) > MAX_SETTING_TEXT:
            raise ModelFileError('{}: setting {!r} is {} characters long'
                                 .format(path, key, len(value)))

    def _check_range(self, path, key, value):
        low_ok = self.low is None or value >= self.low
        high_ok = (self.high is None or value <= self.high) and \
            (self.below is None or value < self.below)
        if not (low_ok and high_ok and value == value):  # NaN fails
            raise ModelFileError('{}: setting {!r} must be in {}{}, {}{}, '
                                 'not {!r}'.format(
                                     path, key, '[', self.low,
                                     self.high if self.below is None
                                     else self.below,
                                     ']' if self.below is None else ')',
                                     value))

    def _check_names(self, path, key, value):
        most = MAX_CLASSES if self.max_items is None else self.max_items
        if not 1 <= len(value) <= most:
            raise ModelFileError('{}: setting {!r} lists {} names (1 to {})'
                                 .format(path, key, len(value), most))
        for item in value:
            if not isinstance(item, str) or not 0 < len(item) <= \
                    MAX_CLASS_NAME:
                raise ModelFileError(
                    '{}: setting {!r} must list strings of 1 to {} '
                    'characters, not {}'.format(path, key, MAX_CLASS_NAME,
                                                _short(item)))


#: The settings several model classes share.
TAGS_SETTING = Setting((str, list), choices=tuple(VOCABULARIES))
FILL_SETTING = Setting(str, choices=WINDOW_FILLS)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def as_setting(spec):
    """The :class:`Setting` of an entry of ``settings_types``."""
    return spec if isinstance(spec, Setting) else Setting(spec)


#: What a model file's ``source`` and ``training`` records may hold where
#: code reads them (other fields are kept as they are).
_SOURCE_FIELDS = {'path': Setting((str, type(None))),
                  'sha256': Setting((str, type(None))),
                  'backend': Setting((str, type(None)))}
_TRAINING_FIELDS = {'data': Setting((str, type(None))),
                    'seed': Setting(int, low=0, high=2 ** 32 - 1),
                    'test_fraction': Setting((int, float), low=0, below=1),
                    'evaluation_windows': Setting(int, low=1, high=1000)}


def _check_record(meta, field, fields, path):
    record = meta.get(field)
    if record is None:
        return
    if not isinstance(record, dict):
        raise ModelFileError('{}: {} must be a JSON object, not {}'.format(
            path, field, _short(record)))
    for key, spec in fields.items():
        if key in record:
            spec.check(path, '{}.{}'.format(field, key), record[key])


def validate_meta(meta, classes, path):
    """Check a model file's ``_meta`` before anything is built from it.

    The architecture must be one of ``classes`` (name -> model class), and
    the settings exactly names that class accepts from a file
    (``settings_types``: name -> type, tuple of types or
    :class:`Setting`), with values of those types in their ranges or
    choices (a BN mode 0 or 2, a known Keras preset, a dropout in [0, 1));
    tag lists must be strings.  Anything else (an unknown name such as
    ``pretrained_model``, a wrong type, a value out of range) is refused in
    one line, so a file can never make a constructor read another file,
    run anything or fail.  ``name``, ``source`` and ``training`` are
    checked where code reads them.
    """
    if not isinstance(meta, dict):
        raise ModelFileError('{}: metadata is not a JSON object'.format(path))
    arch = meta.get('arch')
    if not isinstance(arch, str) or arch not in classes:
        raise ModelFileError('{}: unknown architecture {} (known: {})'
                             .format(path, _short(arch),
                                     ', '.join(sorted(classes))))
    settings = meta.get('settings')
    if not isinstance(settings, dict):
        raise ModelFileError('{}: settings are not a JSON object'.format(
            path))
    types = classes[arch].settings_types
    for key, value in settings.items():
        if key not in types:
            raise ModelFileError(
                '{}: setting {} is not one a {} model takes from a file '
                '({})'.format(path, _short(key), arch,
                              ', '.join(sorted(types)) or 'none'))
        as_setting(types[key]).check(path, key, value)
    Setting((str, type(None))).check(path, 'name', meta.get('name'))
    _check_record(meta, 'source', _SOURCE_FIELDS, path)
    _check_record(meta, 'training', _TRAINING_FIELDS, path)
    return meta


@contextlib.contextmanager
def rng_untouched():
    """Build throw-away links without moving NumPy's global RNG.

    Converters build a model only to fill it with file weights; its random
    initialization must not shift a seeded run that converts on first use.
    """
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def load_model_npz(path, link):
    """Load the parameters of a model file into ``link`` (safely): every
    entry must have the shape and type of the link's array, and weights
    that are NaN or infinite are refused."""
    load_npz_safely(path, link, finite=True)
    return link
