"""The registry of pretrained models: find, verify, download, convert, cache.

A model is asked for by registry name (``'crnn-msd'``) or by path (a
converted ``.npz`` or a Keras ``.h5``).  For a name, the converted ``.npz``
is looked up in this order:

1. the cache (``$CHAINER_TAGGER_CACHE``, default ``~/.cache/chainer-tagger``),
   where converted files are kept under a name that includes the source's
   sha256;
2. otherwise the upstream source file is needed, looked up in the folders
   of ``$CHAINER_TAGGER_WEIGHTS_DIR`` (``os.pathsep``-separated) and their
   sub-folders one level down (``keras-weights/v1/weights_best.hdf5``: a
   file name such as ``weights_best.hdf5`` is only accepted when its
   sha256 is the registered one), then in the cache's ``sources/``, and
   else downloaded from its pinned URL; its sha256 is checked in every
   case, and it is converted into the cache.

A registry model is built with the settings of its manifest entry (tags,
BN mode, and the Keras preset it runs with by default, see
``chainer-tagger models``), whatever an older cached file recorded.

The registry itself is ``weights/manifest.json``.

This module never imports the models: the callers pass the model classes
in (``classes``, a mapping from architecture name to class), as ChainerCV's
``prepare_pretrained_model`` is handed each model's table.
"""
import hashlib
import json
import os
import sys
import tarfile
import warnings
from pathlib import Path

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import (DEFAULT_KERAS_PRESET,
                                          RUNNING_STD_ALIASES, keras_preset)
from chainer_tagger.errors import (ChainerTaggerWarning, KerasWeightsError,
                                   PretrainedModelError, UsageError)
from chainer_tagger.pretrained import cache
from chainer_tagger.pretrained.cache import sha256sum
from chainer_tagger.pretrained.keras_h5 import (
    convert_keras_h5, detect_architecture, read_keras_h5,
    warn_unknown_keras_version)
from chainer_tagger.pretrained.model_file import (
    load_model_npz, read_model_meta, validate_meta)
from chainer_tagger.pretrained.soundnet_npy import convert_soundnet_npy

WEIGHTS_DIR_ENV = 'CHAINER_TAGGER_WEIGHTS_DIR'
CACHE_ENV = 'CHAINER_TAGGER_CACHE'


def manifest_path():
    """Where ``weights/manifest.json`` is (source tree or installed copy)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / 'weights' / 'manifest.json',
                      Path(sys.prefix) / 'share' / 'chainer-tagger' /
                      'weights' / 'manifest.json'):
        if candidate.is_file():
            return candidate
    raise PretrainedModelError('weights/manifest.json not found')


_MANIFEST = None


def manifest():
    """The registry: ``{name: entry}``."""
    global _MANIFEST
    if _MANIFEST is None:
        with open(manifest_path()) as f:
            _MANIFEST = {k: v for k, v in json.load(f).items()
                         if not k.startswith('_')}
    return _MANIFEST


def entry(name):
    try:
        return manifest()[name]
    except KeyError:
        raise PretrainedModelError(
            'unknown model {!r}; known models: {} (or give a path to a '
            '.npz or Keras .h5 file)'.format(
                name, ', '.join(sorted(manifest())))) from None


def cache_dir():
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get('XDG_CACHE_HOME', '~/.cache')).expanduser() / \
        'chainer-tagger'


def weights_dirs():
    env = os.environ.get(WEIGHTS_DIR_ENV, '')
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p]


def lookup_sha256(sha):
    """The (name, file record) of a known source file, or (None, None)."""
    for name, e in manifest().items():
        for record in e['files']:
            if record['sha256'] == sha:
                return name, record
    return None, None


def _verified(path, record):
    actual = sha256sum(path)
    if actual != record['sha256']:
        raise PretrainedModelError(
            '{}: sha256 {} does not match the registered {} for {}; the '
            'file is corrupt or not the published one'.format(
                path, actual, record['sha256'], record['filename']))
    return path


def download(url, sha256, filename, folder, progressbar=True):
    """Download ``url`` into ``folder`` and verify its sha256 (pooch).

    A file whose checksum does not match is refused: nothing is left under
    ``filename`` and :class:`PretrainedModelError` is raised.
    """
    import pooch
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash='sha256:' + sha256,
                                   fname=filename, path=folder,
                                   progressbar=progressbar))
    except ValueError as e:
        # pooch raises ValueError on a checksum mismatch, after removing
        # the temporary download.
        raise PretrainedModelError('download of {} refused: {}'.format(
            url, e)) from None
    except Exception as e:  # network errors of all kinds
        raise PretrainedModelError(
            'cannot download {} ({}: {}); put the file in a folder named by '
            '${}'.format(url, type(e).__name__, e, WEIGHTS_DIR_ENV)) from None


def source_candidates(filename):
    """Where a source file may be: each folder of
    ``$CHAINER_TAGGER_WEIGHTS_DIR``, then its sub-folders (one level, in
    name order), then the cache's ``sources/``; existing files only."""
    found = []
    for folder in weights_dirs():
        found.append(folder / filename)
        if folder.is_dir():
            found.extend(sorted(folder.glob('*/' + filename)))
    found.append(cache_dir() / 'sources' / filename)
    return [p for p in found if p.is_file()]


def find_source(name, backend=None, allow_download=True, progressbar=True):
    """Path of a verified upstream weight file of registry model ``name``.

    The first local candidate (:func:`source_candidates`) whose sha256 is
    the registered one is used; local files that all fail the check are
    refused (naming the first), rather than downloading over them.
    """
    e = entry(name)
    records = [r for r in e['files']
               if backend is None or r['backend'] == backend]
    if not records:
        raise PretrainedModelError('{} has no {} weight file'.format(
            name, backend))
    rejected = []
    for record in records:
        for candidate in source_candidates(record['filename']):
            if sha256sum(candidate) == record['sha256']:
                return candidate
            rejected.append((candidate, record))
    if rejected:
        return _verified(*rejected[0])  # raises, naming the file
    if not allow_download:
        raise PretrainedModelError(
            '{}: {} not found in ${} or the cache'.format(
                name, records[0]['filename'], WEIGHTS_DIR_ENV))
    record = records[0]
    if 'archive_member' in record:
        return download_member(record, cache_dir() / 'sources',
                               progressbar=progressbar)
    return download(record['url'], record['sha256'], record['filename'],
                    cache_dir() / 'sources', progressbar=progressbar)


def download_member(record, folder, progressbar=True):
    """Download a verified archive and take one verified file out of it."""
    folder = Path(folder)
    archive = download(record['url'], record['archive_sha256'],
                       record['url'].rsplit('/', 1)[-1], folder,
                       progressbar=progressbar)
    target = folder / record['filename']
    with tarfile.open(archive) as tar:
        member = tar.extractfile(record['archive_member'])
        if member is None:
            raise PretrainedModelError('{} has no {}'.format(
                archive, record['archive_member']))
        data = member.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != record['sha256']:
        raise PretrainedModelError(
            '{} in {}: sha256 {} does not match the registered {}'.format(
                record['archive_member'], archive, actual, record['sha256']))
    with atomic_write(target, 'wb') as f:
        f.write(data)
    archive.unlink()
    return target


def converted_path(name, sha):
    return cache_dir() / '{}-{}.npz'.format(name, sha[:12])


def status(name):
    """How model ``name`` would be obtained now: a short human string."""
    e = entry(name)
    for record in e['files']:
        if converted_path(name, record['sha256']).is_file():
            return 'converted (cache)'
    for record in e['files']:
        for candidate in source_candidates(record['filename']):
            if candidate.parent == cache_dir() / 'sources':
                return 'source in cache'
            return 'source in {}'.format(candidate.parent)
    return 'not downloaded'


def _class_of(classes, arch):
    try:
        return classes[arch]
    except KeyError:
        raise PretrainedModelError(
            'a {!r} model was asked for where only {} fit'.format(
                arch, ', '.join(sorted(classes)))) from None


def convert(src, dst, classes, name=None, arch=None, keras=None,
            running_std_is=None, trust_unverified=False):
    """Convert an upstream weight file into a chainer-tagger ``.npz``.

    Parameters
    ----------
    src : path-like
        A Keras-1 ``.h5`` of Choi's taggers (layers matched by structure,
        nested containers included), or SoundNet's ``sound8.npy``.
    dst : path-like
        The ``.npz`` to write (atomically).
    classes : mapping
        Architecture name -> model class.
    name : str, optional
        Registry name; found from the file's sha256 when not given.
    arch : {'crnn', 'cnn'}, optional
        Detected from the layers when not given.
    keras : str, optional
        The Keras preset the file is run with by default, recorded in the
        ``.npz``: taken from the registry for known files; for unknown
        files the default is
        :data:`~chainer_tagger.configuration.DEFAULT_KERAS_PRESET`
        (Keras 1.1), with a warning that says so.
    running_std_is : {'std', 'variance'}, optional
        The former option, an alias of ``keras``: 'std' is 1.0.6-theano,
        'variance' is 1.1-theano (eps 1e-5); a warning names the preset.
    trust_unverified : bool
        Read a ``sound8.npy`` whose checksum is not the registered one
        (still with the array-only unpickler).

    Returns
    -------
    meta : dict
        What was written to the file's ``_meta``.
    """
    if os.fspath(src).lower().endswith('.npy'):
        return convert_soundnet_npy(src, dst, _class_of(classes, 'soundnet'),
                                    trust_unverified=trust_unverified)
    keras = _keras_option(keras, running_std_is)
    sha = sha256sum(src)
    known_name, _ = lookup_sha256(sha)
    name = name or known_name
    layers, _ = read_keras_h5(src)
    try:
        try:
            detected_arch, settings = detect_architecture(layers)
        except KerasWeightsError:
            if arch is None:
                raise
            # Ambiguous, or no match: compare with the one asked for.
            detected_arch, settings = detect_architecture(layers, arch)
    except KerasWeightsError as e:
        raise KerasWeightsError('{}: {}'.format(src, e)) from None
    if arch is not None and arch != detected_arch:
        raise KerasWeightsError(
            '{}: holds a {!r} model, not {!r}'.format(src, detected_arch,
                                                      arch))
    if name is not None:
        e = entry(name)
        if e['arch'] != detected_arch:
            raise KerasWeightsError('{}: holds a {!r} model, not the {!r} of '
                                    '{}'.format(src, detected_arch,
                                                e['arch'], name))
        settings = dict(e['settings'])
    elif keras is None:
        keras = DEFAULT_KERAS_PRESET
        warn_unknown_keras_version(src, keras)
    if keras is not None:
        settings['keras'] = keras
    return convert_keras_h5(src, dst, _class_of(classes, detected_arch),
                            settings, name=name, sha256=sha)


def _verified_cache_entry(path):
    """``path`` if it is a cached conversion whose checksum holds; a damaged
    one is removed with a warning naming it (it is then rebuilt), and
    None is returned."""
    if not path.is_file():
        return None
    problem = cache.damage(path)
    if problem is None:
        return path
    warnings.warn('cached model file {}: {}; rebuilding it from the '
                  'verified source'.format(path, problem),
                  ChainerTaggerWarning, stacklevel=3)
    cache.discard(path)
    return None


def _convert_into_cache(src, path, classes, **options):
    cache.ready(path.parent)
    convert(src, path, classes, **options)
    cache.record_checksum(path)
    return path


def _keras_option(keras, running_std_is):
    """The preset name asked for, the old ``running_std_is`` mapped onto
    the presets with a warning that names the preset."""
    if running_std_is is not None:
        if keras is not None:
            raise UsageError('give keras or running_std_is, not both')
        try:
            keras = RUNNING_STD_ALIASES[running_std_is]
        except KeyError:
            raise UsageError("running_std_is must be 'std' or 'variance', "
                             'not {!r}'.format(running_std_is)) from None
        preset = keras_preset(keras)
        warnings.warn(
            'running_std_is={!r} is read as the Keras preset {} ({}, eps '
            '{:g}); choose the Keras release with keras= (--keras) '
            'instead'.format(running_std_is, preset.name, preset.versions,
                             preset.eps), FutureWarning, stacklevel=3)
    return None if keras is None else keras_preset(keras).name


def ensure_converted(name, classes, progressbar=True):
    """Path of the converted ``.npz`` of registry model ``name``, verified
    against the checksum recorded when it was converted (a damaged one is
    rebuilt, with a warning)."""
    e = entry(name)
    for record in e['files']:
        path = _verified_cache_entry(converted_path(name, record['sha256']))
        if path is not None:
            return path
    cache.ready(cache_dir())
    source = find_source(name, progressbar=progressbar)
    _, record = lookup_sha256(sha256sum(source))
    return _convert_into_cache(source, converted_path(name, record['sha256']),
                               classes, name=name)


def reconvert(name, classes, progressbar=True):
    """Convert registry model ``name`` afresh into the cache, its checksum
    recorded beside it, replacing what was there.

    Returns ``(source, path)``: the verified upstream file and the
    converted ``.npz``, which :func:`ensure_converted` then finds verified
    (never a "damaged" copy to rebuild a second time).
    """
    entry(name)
    cache.ready(cache_dir())
    source = find_source(name, progressbar=progressbar)
    _, record = lookup_sha256(sha256sum(source))
    path = converted_path(name, record['sha256'])
    cache.discard(path)
    return source, _convert_into_cache(source, path, classes, name=name)


def prepare(model, classes, arch=None):
    """Resolve ``model`` (name or path) to ``(npz_path, meta)``.

    ``classes`` maps architecture names to the model classes that may be
    built (to convert a file that is not converted yet, and to validate
    the file's settings before anything is built from them); ``arch``,
    when given, must be the model's architecture.  A Keras ``.h5`` path is
    converted into the cache first.  A registry name's settings are its
    manifest entry's.
    """
    model = os.fspath(model)
    registered = model in manifest()
    if registered:
        path = ensure_converted(model, classes)
    elif os.path.isfile(model):
        path = Path(model)
        if path.suffix.lower() in ('.h5', '.hdf5'):
            sha = sha256sum(path)
            path = cache_dir() / 'converted-{}.npz'.format(sha[:12])
            if _verified_cache_entry(path) is None:
                _convert_into_cache(model, path, classes)
    else:
        entry(model)  # raises with the list of known names
    meta = validate_meta(read_model_meta(path), classes, path)
    if registered:
        settings = dict(meta['settings'])
        settings.pop('running_std_is', None)  # written by older versions
        settings.update(entry(model)['settings'])
        meta = dict(meta, settings=settings)
    if arch is not None and meta['arch'] != arch:
        raise PretrainedModelError(
            '{} holds a {!r} model, not {!r}'.format(model, meta['arch'],
                                                     arch))
    return path, meta


def load_weights(path, link):
    """Load the parameters of model file ``path`` into ``link``."""
    return load_model_npz(path, link)
