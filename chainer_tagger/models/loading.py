"""Building a model of the zoo from a registry name or a model file."""
import os

import numpy as np

import chainer

from chainer_tagger.errors import UsageError
from chainer_tagger.models.architectures import FEATURE_ARCHITECTURES
from chainer_tagger.models.linear_probe import LinearProbe
from chainer_tagger.models.melgram_tagger import file_settings
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.cache import sha256sum

#: Architecture names used in model files and the registry.
ARCHITECTURES = dict(FEATURE_ARCHITECTURES, probe=LinearProbe)


def load_model(model, keras=None, precision='float32', **overrides):
    """Build and load a model from a registry name or a model file.

    Parameters
    ----------
    model : str or path-like
        ``'crnn-msd'``, ``'crnn-gtzan'``, ``'cnn-msd'``, ``'cnn0-msd'``,
        ``'rnn0-msd'``, ``'cnn0-msd-v1'``, ``'rnn0-msd-v1'``,
        ``'soundnet8'``, or a path to a converted or trained ``.npz`` or a
        Keras ``.h5``.
    keras : str, optional
        Run a Keras tagger with the BatchNormalization of another Keras-1
        release than its default (a preset name such as ``'1.0.6-theano'``;
        see :data:`~chainer_tagger.configuration.KERAS_PRESETS` and
        ``chainer-tagger models`` for each model's default and why).
    precision : {'float32', 'float64'}
        float64 runs the model (weights and inputs) in double precision,
        on Chainer's standard functions: for reference runs against
        published full-precision tables.  float32 is the fast default.
    overrides
        Other settings that do not change the weights, such as
        ``per_clip=True``.
    """
    path, meta = registry.prepare(model, ARCHITECTURES)
    cls = ARCHITECTURES[meta['arch']]
    if keras is not None:
        if 'keras' not in cls.settings_types:
            raise UsageError('{} is not a Keras-1 model: a Keras preset does '
                             'not apply to it'.format(os.fspath(model)))
        overrides['keras'] = keras
    if precision not in cls.precisions:
        raise UsageError('{} runs in {}, not {!r}'.format(
            os.fspath(model), ' or '.join(cls.precisions), precision))
    with chainer.using_config('dtype', np.dtype(precision)):
        link = cls(**dict(file_settings(cls, meta), **overrides))
    registry.load_weights(path, link)
    link.model_name = meta.get('name') or os.fspath(model)
    link.weights_sha256 = weights_sha256(model, path, meta)
    return link


def weights_sha256(model, path, meta):
    """The sha256 that identifies a model's weights: for a registry name,
    of the verified upstream file it was converted from (stable when the
    cache's converted copy is rebuilt, which is not byte-identical); for a
    model file, of that file.  ``path`` is the file that was loaded.
    """
    source = meta.get('source') or {}
    if os.fspath(model) in registry.manifest() and source.get('sha256'):
        return source['sha256']
    return sha256sum(model if os.path.isfile(model) else path)


def convert_weights(src, dst, **options):
    """Convert an upstream weight file (Keras-1 ``.h5`` of Choi's taggers,
    or SoundNet's ``sound8.npy``) into a chainer-tagger ``.npz``; see
    :func:`chainer_tagger.pretrained.registry.convert` for the options."""
    return registry.convert(src, dst, ARCHITECTURES, **options)
