"""Reading the pickled SoundNet weights (``sound8.npy``) safely.

The widely used TensorFlow conversion of SoundNet is a Python-2 pickle of a
dict of dicts of arrays, saved inside a ``.npy``.  Unpickling runs code, so:

* the file's sha256 must be the registered one, unless the caller passes
  ``trust_unverified=True``;
* even then it is read with a restricted unpickler that can only rebuild
  NumPy arrays, dtypes, dicts, lists and strings; any other global in the
  stream is refused.
"""
import hashlib
import io
import os

import numpy as np

from chainer_tagger.configuration import SOUNDNET_LAYERS
from chainer_tagger.errors import ModelFileError, UnsafeFileError
from chainer_tagger.pretrained.model_file import (rng_untouched,
                                                  save_model_npz)
from chainer_tagger.pretrained.safe_pickle import load_arrays_only

#: sha256 of sound8.npy as published (MIT SoundNet, TF conversion).
SOUND8_SHA256 = \
    '7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5'


def load_pickled_npy(path, sha256=SOUND8_SHA256, trust_unverified=False):
    """See :func:`read_pickled_npy`; returns only the object."""
    return read_pickled_npy(path, sha256, trust_unverified)[0]


def read_pickled_npy(path, sha256=SOUND8_SHA256, trust_unverified=False):
    """Load a pickled object array ``.npy`` without running arbitrary code.

    Parameters
    ----------
    path : path-like
    sha256 : str
        The expected checksum.
    trust_unverified : bool
        Read a file whose checksum differs (still with the restricted
        unpickler).

    Returns
    -------
    object
        The pickled object (for sound8.npy, a dict of layer dicts).
    sha256 : str
        The file's actual checksum (the file is read once).
    """
    with open(path, 'rb') as f:
        data = f.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256 and not trust_unverified:
        raise UnsafeFileError(
            '{}: sha256 {} is not the registered {}; it is a pickle, and '
            'loading a pickle runs code, so it is refused (pass '
            '--trust-unverified-pickle to read it anyway with a restricted '
            'unpickler)'.format(path, actual, sha256))
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    shape, _, dtype = np.lib.format._read_array_header(stream, version)
    if dtype != np.dtype(object):
        raise UnsafeFileError('{}: not a pickled object array'.format(path))
    try:
        obj = load_arrays_only(stream, encoding='latin1')
    except UnsafeFileError:
        raise
    except Exception as e:
        raise UnsafeFileError('{}: unreadable pickle ({})'.format(
            path, e)) from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
        obj = obj.item()
    return obj, actual


def convert_soundnet_npy(src, dst, model_class, trust_unverified=False):
    """Convert ``sound8.npy`` into a chainer-tagger ``.npz`` (atomically).

    TF kernels ``(k, 1, in, out)`` become Chainer's ``(out, in, k)``;
    SoundNet's ``mean``/``var`` become the BN's ``avg_mean``/``avg_var``.
    ``model_class`` is the SoundNet-8 link to fill.
    """
    layers, sha = read_pickled_npy(src, trust_unverified=trust_unverified)
    with rng_untouched():
        model = model_class()

    def put(target, value, where):
        value = np.asarray(value)
        if value.dtype.kind != 'f':
            raise ModelFileError('{}: {} holds {}, not floats'.format(
                src, where, value.dtype))
        value = value.astype(np.float32)
        if target.shape != value.shape:
            raise ModelFileError(
                '{}: {}: the file has shape {}, the model expects {}'.format(
                    src, where, value.shape, target.shape))
        if not np.all(np.isfinite(value)):
            raise ModelFileError(
                '{}: layer {} holds NaN or infinite values; a model built '
                'from it would give NaN scores, so it is refused'.format(
                    src, where))
        target[...] = value

    try:
        _assign(layers, model, put)
    except (KeyError, TypeError, IndexError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError('{}: not the layers of SoundNet-8 ({}: {})'
                             .format(src, type(e).__name__, e)) from None
    meta = {'arch': model_class.arch, 'settings': {}, 'name': 'soundnet8',
            'source': {'path': os.path.basename(os.fspath(src)),
                       'sha256': sha, 'backend': 'tensorflow'}}
    save_model_npz(dst, model, meta)
    return meta


def _assign(layers, model, put):
    """Copy SoundNet's layers (a dict of dicts of arrays) into ``model``
    through ``put(target, value, where)``."""
    for name in [layer.name for layer in SOUNDNET_LAYERS] + ['conv8',
                                                             'conv8_2']:
        w = layers[name]
        conv = model[name]
        put(conv.W.array, w['weights'][:, 0].transpose(2, 1, 0),
            name + '/weights')
        put(conv.b.array, w['biases'], name + '/biases')
        if 'gamma' in w:
            bn = model['bn' + name[4:]]
            put(bn.gamma.array, w['gamma'], name + '/gamma')
            put(bn.beta.array, w['beta'], name + '/beta')
            put(bn.avg_mean, w['mean'], name + '/mean')
            put(bn.avg_var, w['var'], name + '/var')
