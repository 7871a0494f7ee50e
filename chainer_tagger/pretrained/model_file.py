"""The model file: a Chainer ``.npz`` that describes itself, read safely.

Besides the link's parameters (as :func:`chainer.serializers.save_npz`
writes them) the file holds a JSON document under the key ``_meta``:
the architecture, its settings and where the weights came from, so that
``chainer-tagger tag --model my.npz`` can rebuild the model.

Why this module reads ``.npz`` files itself: Chainer's ``load_npz`` opens
them with ``numpy.load(..., allow_pickle=True)``, and an object array in an
``.npz`` is a pickle, which runs code when it is loaded.  Model files are
what users share and what the cache and ``--resume`` read, so every
``.npz`` is opened here with ``allow_pickle=False``, every entry's header is
checked before any array is read, and an object array is refused with the
file and the entry named; the file format stays Chainer's, so existing
files still load.  A model file's ``_meta`` is validated (known
architecture, settings of the expected names and types) before any array
is read.
"""
import contextlib
import json
import os
import pickle
import zipfile

import numpy as np

import chainer

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.errors import ModelFileError, UnsafeFileError
from chainer_tagger.pretrained.safe_pickle import load_arrays_only

META_KEY = '_meta'


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


def _entry_kind(archive, member):
    """``'plain'`` (numbers), ``'none'`` (an object array of ``None``
    only) or ``'objects'`` (anything else that would need unpickling).

    An object array's pickle is read by an unpickler that can rebuild
    arrays and nothing else, so a stream that names anything else is
    refused before it runs.
    """
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError('unsupported .npy format version {}'.format(
                version))
        if not dtype.hasobject:
            return 'plain'
        try:
            value = load_arrays_only(f)
        except UnsafeFileError:
            return 'objects'
    if all(v is None for v in np.asarray(value, dtype=object).flat):
        return 'none'
    return 'objects'


class _PlainArrays:
    """An ``.npz`` opened with ``allow_pickle=False``, where the entries
    that held only ``None`` (Chainer stores a trigger's unset best value
    that way) read as ``None`` again."""

    def __init__(self, npz, none_keys):
        self.npz, self.none_keys = npz, none_keys
        self.files = npz.files

    def __contains__(self, key):
        return key in self.npz.files

    def __getitem__(self, key):
        if key in self.none_keys:
            return np.array(None, dtype=object)
        return self.npz[key]


@contextlib.contextmanager
def open_npz(path):
    """Open an ``.npz`` for reading plain arrays only.

    Every entry is checked before any array is read: an entry holding
    Python objects (a pickle) other than ``None`` raises
    :class:`~chainer_tagger.errors.UnsafeFileError` naming the file and the
    entry, and no code runs.  The archive is then read with
    ``allow_pickle=False``.  A file that is not a readable ``.npz`` raises
    :class:`~chainer_tagger.errors.ModelFileError`.
    """
    path = os.fspath(path)
    none_keys = set()
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[:-4] if member.endswith('.npy') else member
                kind = _entry_kind(archive, member)
                if kind == 'none':
                    none_keys.add(key)
                elif kind == 'objects':
                    raise UnsafeFileError(
                        '{}: entry {!r} holds Python objects (a pickle, '
                        'which would run code when loaded); model files '
                        'hold plain arrays only, so the file is refused'
                        .format(path, key))
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError,
            pickle.UnpicklingError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError('{}: not a readable .npz ({})'.format(
            path, e)) from None
    with npz:
        yield _PlainArrays(npz, none_keys)


def load_npz_safely(path, target, strict=True):
    """:func:`chainer.serializers.load_npz` without unpickling: ``target``
    (a link, an optimizer or a trainer) is deserialized from ``path``
    opened by :func:`open_npz`."""
    with open_npz(path) as npz:
        try:
            chainer.serializers.NpzDeserializer(npz, strict=strict).load(
                target)
        except (KeyError, ValueError) as e:
            raise ModelFileError('{}: does not fit the model ({}: {})'.format(
                path, type(e).__name__, e)) from None


def read_model_meta(path):
    """Return the ``_meta`` document of a model file (not validated; see
    :func:`validate_meta`)."""
    with open_npz(path) as npz:
        if META_KEY not in npz.files:
            raise ModelFileError(
                '{}: a .npz without chainer-tagger metadata; convert '
                'Keras weights with `chainer-tagger convert`'.format(path))
        try:
            meta = json.loads(str(npz[META_KEY]))
        except ValueError as e:
            raise ModelFileError('{}: unreadable metadata ({})'.format(
                path, e)) from None
    if not isinstance(meta, dict):
        raise ModelFileError('{}: metadata is not a JSON object'.format(path))
    return meta


def _type_name(types):
    return ' or '.join(t.__name__ for t in types)


def validate_meta(meta, classes, path):
    """Check a model file's ``_meta`` before anything is built from it.

    The architecture must be one of ``classes`` (name -> model class), and
    the settings exactly names that class accepts from a file
    (``settings_types``: name -> type or tuple of types), with values of
    those types; tag lists must be strings.  Anything else (an unknown
    name such as ``pretrained_model``, a wrong type) is refused, so a file
    can never make a constructor read another file or run anything.
    """
    arch = meta.get('arch')
    if arch not in classes:
        raise ModelFileError('{}: unknown architecture {!r} (known: {})'
                             .format(path, arch, ', '.join(sorted(classes))))
    settings = meta.get('settings')
    if not isinstance(settings, dict):
        raise ModelFileError('{}: settings are not a JSON object'.format(
            path))
    types = classes[arch].settings_types
    for key, value in settings.items():
        if key not in types:
            raise ModelFileError(
                '{}: setting {!r} is not one a {} model takes from a file '
                '({})'.format(path, key, arch, ', '.join(sorted(types))))
        expected = types[key] if isinstance(types[key], tuple) \
            else (types[key],)
        # bool is an int to isinstance; a flag is no number here.
        if not isinstance(value, expected) or (
                isinstance(value, bool) and bool not in expected):
            raise ModelFileError('{}: setting {!r} must be {}, not {!r}'
                                 .format(path, key, _type_name(expected),
                                         value))
        if isinstance(value, list) and not all(
                isinstance(v, str) for v in value):
            raise ModelFileError('{}: setting {!r} must list strings'.format(
                path, key))
    name = meta.get('name')
    if name is not None and not isinstance(name, str):
        raise ModelFileError('{}: name must be a string'.format(path))
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
    """Load the parameters of a model file into ``link`` (safely)."""
    load_npz_safely(path, link)
    return link
