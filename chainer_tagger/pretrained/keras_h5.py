"""Reading Keras-1 weight files (HDF5) into the Chainer models.

Keras 1 ``save_weights`` writes one HDF5 group per layer, with the weight
names in the group's ``weight_names`` attribute.  Files written under the
TensorFlow backend name their weights like TensorFlow variables
(``conv1_W:0``, sometimes ``conv1_W_1:0``), files written under Theano do
not (``conv1_W``).  That tells us how the convolution kernels are stored:

* Theano's ``conv2d`` is a true convolution, so Theano files hold kernels
  that must be flipped in both spatial axes for Chainer's cross-correlation;
* TensorFlow files hold the already-flipped kernels (Keras'
  ``convert_kernel``), in the same ``(out, in, rows, cols)`` shape.
"""
import os
import re
import warnings

import h5py
import numpy as np

import chainer

from chainer_tagger.configuration import (CNN_BLOCKS, CRNN_BLOCKS,
                                          GTZAN_GENRES, MSD_TAGS)
from chainer_tagger.errors import KerasWeightsError
from chainer_tagger.pretrained.model_file import (rng_untouched,
                                                  save_model_npz)


_SUFFIX = re.compile(r'(_\d+)?(:\d+)?$')


def read_keras_h5(path):
    """Read a Keras-1 weight file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    layers : dict
        ``{layer_name: {short_weight_name: ndarray}}`` for the layers that
        have weights, in file order; short names drop the layer prefix and
        TensorFlow's ``_1:0`` suffixes (``'W'``, ``'running_std'``, ``'U_z'``).
    backend : {'theano', 'tensorflow'}
        Detected from the weight names.
    """
    try:
        f = h5py.File(path, 'r')
    except OSError as e:
        raise KerasWeightsError('{}: not a readable HDF5 file ({})'.format(
            path, e)) from None
    with f:
        root = f['model_weights'] if 'model_weights' in f else f
        if 'layer_names' not in root.attrs:
            raise KerasWeightsError(
                '{}: no Keras layer_names attribute; not a Keras weight '
                'file'.format(path))
        layers = {}
        tf_names = 0
        n_names = 0
        try:
            for raw_layer in root.attrs['layer_names']:
                layer = _text(raw_layer)
                group = root[layer]
                names = [_text(n) for n in group.attrs.get('weight_names', [])]
                if not names:
                    continue
                weights = {}
                for name in names:
                    n_names += 1
                    tf_names += name.endswith(':0')
                    short = _SUFFIX.sub('', name)
                    if short.startswith(layer + '_'):
                        short = short[len(layer) + 1:]
                    weights[short] = np.asarray(group[name][()])
                layers[layer] = weights
        except (KeyError, OSError, RuntimeError) as e:
            raise KerasWeightsError('{}: corrupted Keras weight file ({})'
                                    .format(path, e)) from None
    backend = 'tensorflow' if n_names and tf_names == n_names else 'theano'
    return layers, backend


def _text(value):
    return value.decode('utf8') if isinstance(value, bytes) else str(value)


def detect_architecture(layers):
    """Guess the chainer-tagger architecture and settings of a weight file.

    Returns
    -------
    arch : {'crnn', 'cnn'}
    settings : dict
        ``tags`` and ``bn_mode`` read off the file.  A conv-block BN whose
        moving statistics were never updated (mean 0, std 1 everywhere) was a
        mode-2 layer.  ``running_std_is`` cannot be read off the file and is
        not included.
    """
    if 'gru1' in layers and 'gru2' in layers:
        arch, last_block = 'crnn', 'bn4'
    elif 'conv5' in layers:
        arch, last_block = 'cnn', 'bn5'
    else:
        raise KerasWeightsError(
            'cannot tell the architecture: expected the layers of '
            'MusicTaggerCRNN (gru1, gru2) or MusicTaggerCNN (conv1..conv5), '
            'found {}'.format(', '.join(layers) or 'no layers with weights'))
    top = layers.get('output') or layers.get('preds')
    if top is None:
        raise KerasWeightsError('no output layer (output or preds) found')
    n_out = top['W'].shape[-1]
    tags = {len(MSD_TAGS): 'msd', len(GTZAN_GENRES): 'gtzan'}.get(n_out)
    if tags is None:
        raise KerasWeightsError('output layer has {} units; known '
                                'vocabularies have 50 or 10'.format(n_out))
    untouched = all(
        np.all(layers[b]['running_mean'] == 0)
        and np.all(layers[b]['running_std'] == 1)
        for b in ('bn1', last_block) if b in layers)
    return arch, {'tags': tags, 'bn_mode': 2 if untouched else 0}


#: Conv blocks and GRU layers of Choi's taggers, by architecture.
_KERAS_LAYOUT = {'crnn': (len(CRNN_BLOCKS), ('gru1', 'gru2')),
                 'cnn': (len(CNN_BLOCKS), ())}


def _flip(kernel):
    return np.ascontiguousarray(kernel[..., ::-1, ::-1])


def assign_keras_weights(model, layers, backend):
    """Copy Keras weights into ``model``, checking every shape.

    Raises
    ------
    KerasWeightsError
        Naming the layer and both shapes when a weight does not fit, or the
        missing layer.
    """
    def put(param, value, where):
        value = np.asarray(value, dtype=np.float32)
        target = param.array if isinstance(param, chainer.Variable) \
            else param
        if target is None:
            param.initialize(value.shape)
            target = param.array
        if target.shape != value.shape:
            raise KerasWeightsError(
                'layer {}: the file has shape {}, the model expects {}'
                .format(where, value.shape, target.shape))
        target[...] = model.device.send(value)

    def layer(name):
        try:
            return layers[name]
        except KeyError:
            raise KerasWeightsError(
                'the file has no layer {!r} (it has: {}); is it a weight '
                'file of this model?'.format(name, ', '.join(layers))) \
                from None

    def put_bn(link, name):
        w = layer(name)
        for key in ('gamma', 'beta', 'running_mean', 'running_std'):
            put(getattr(link, key), w[key], '{}/{}'.format(name, key))

    put_bn(model.bn_0_freq, 'bn_0_freq')
    n_blocks, grus = _KERAS_LAYOUT[model.arch]
    for i in range(1, n_blocks + 1):
        block = model['block{}'.format(i)]
        w = layer('conv{}'.format(i))
        kernel = w['W'] if backend == 'tensorflow' else _flip(w['W'])
        put(block.conv.W, kernel, 'conv{}/W'.format(i))
        put(block.conv.b, w['b'], 'conv{}/b'.format(i))
        put_bn(block.bn, 'bn{}'.format(i))
    for gru_name in grus:
        w = layer(gru_name)
        gru = model[gru_name]
        gates = ('z', 'r', 'h')
        put(gru.W, np.concatenate([w['W_' + g] for g in gates], axis=1),
            gru_name + '/W')
        put(gru.U, np.concatenate([w['U_' + g] for g in gates], axis=1),
            gru_name + '/U')
        put(gru.b, np.concatenate([w['b_' + g] for g in gates]),
            gru_name + '/b')
    top_name = 'output' if 'output' in layers else 'preds'
    top = layer(top_name)
    put(model.output.W, np.asarray(top['W']).T, top_name + '/W')
    put(model.output.b, top['b'], top_name + '/b')
    return model


def convert_keras_h5(src, dst, model_class, settings, name=None,
                     sha256=None):
    """Convert a Keras-1 weight file into a chainer-tagger ``.npz``.

    Parameters
    ----------
    src : path-like
        The Keras ``.h5``; Theano or TensorFlow kernel order is detected.
    dst : path-like
        The ``.npz`` to write (atomically).
    model_class : type
        The architecture to fill (its ``arch`` is recorded).
    settings : dict
        Its constructor settings (tags, BN mode and semantics).
    name : str, optional
        Registry name, recorded in the file.
    sha256 : str, optional
        The source's checksum, recorded in the file.

    Returns
    -------
    meta : dict
        What was written to the file's ``_meta``.
    """
    layers, backend = read_keras_h5(src)
    with rng_untouched():
        model = model_class(**settings)
    try:
        assign_keras_weights(model, layers, backend)
    except KerasWeightsError as e:
        raise KerasWeightsError('{}: {}'.format(src, e)) from None
    meta = {'arch': model_class.arch, 'settings': settings, 'name': name,
            'source': {'path': os.path.basename(os.fspath(src)),
                       'sha256': sha256, 'backend': backend}}
    save_model_npz(dst, model, meta)
    return meta


def warn_unknown_keras_version(path, default):
    warnings.warn(
        '{}: not a registered weight file, so the Keras version that wrote '
        "it is unknown; reading BatchNormalization running_std as a {} "
        "(pass running_std_is='std' for files of Keras <= 1.0.6)".format(
            path, default), stacklevel=3)
