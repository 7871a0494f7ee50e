"""The converted model file: a Chainer ``.npz`` that describes itself.

Besides the link's parameters (as :func:`chainer.serializers.save_npz`
writes them) the file holds a JSON document under the key ``_meta``:
the architecture, its settings and where the weights came from, so that
``chainer-tagger tag --model my.npz`` can rebuild the model.
"""
import contextlib
import json

import numpy as np

import chainer

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.errors import ModelFileError

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


def read_model_meta(path):
    """Return the ``_meta`` document of a model file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if META_KEY not in npz.files:
                raise ModelFileError(
                    '{}: a .npz without chainer-tagger metadata; convert '
                    'Keras weights with `chainer-tagger convert`'.format(path))
            return json.loads(str(npz[META_KEY]))
    except (OSError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError('{}: not a readable .npz ({})'.format(
            path, e)) from None


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
    """Load the parameters of a model file into ``link``."""
    chainer.serializers.load_npz(path, link)
    return link
