"""An independent float64 NumPy forward pass of Choi's Keras-1 taggers.

Written from the Keras-1 equations and Choi's model definitions
(``music_tagger_cnn.py``, ``music_tagger_crnn.py``, and the early
``audio_convnet.py`` / ``audio_conv_rnn.py`` with mode-2 conv blocks), to
check the package against something that shares none of its code: the
weight files are read here with h5py, layers are found by the names the
Keras models gave them (``bn_0_freq``, ``conv1``, ``bn1``, ..., ``gru1``,
``gru2``, ``output``/``preds``), and nothing of ``chainer_tagger`` is
imported.  It is slow and literal on purpose.

The facts that a weight file does not carry itself (which backend wrote the
kernels, which Keras version wrote the BN statistics) are given by the
caller: see :data:`FILES`.
"""
import h5py
import numpy as np

#: Keras-1 BatchNormalization by the Keras release that wrote and ran a file:
#: what its ``running_std`` weight holds, and the layer's default epsilon
#: (keras/layers/normalization.py and backend/theano_backend.py at each tag).
#: Keras 1.0.0-1.0.6: a standard deviation ``sqrt(var + eps)``, eps 1e-6.
KERAS_1_0 = ('std', 1e-6)
#: Keras 1.0.8-1.1.2: a variance, eps 1e-5 (1.0.7 divided by
#: ``sqrt(var) + 1e-6`` and 1.2 used eps 1e-3; no published file needs them).
KERAS_1_1 = ('variance', 1e-5)

#: The published weight files: model, backend that wrote the kernels, the
#: Keras BN of the file, the conv blocks' BN mode.  The backend is in the
#: upstream file names (jsalbert's GTZAN model: Theano 0.9 and Keras 1.1.0 in
#: its requirements.txt).  Choi's CRNN results were published on
#: 2016-09-28, before Keras 1.2 (2016-12-19); his CNN and the early mode-2
#: models read with Keras 1.1 semantics give saturated scores.
FILES = {
    'music_tagger_crnn_weights_theano.h5':
        ('crnn-msd', 'theano', KERAS_1_1, 0),
    'music_tagger_crnn_weights_tensorflow.h5':
        ('crnn-msd', 'tensorflow', KERAS_1_1, 0),
    'crnn_net_gru_adam_ours_epoch_40.h5':
        ('crnn-gtzan', 'theano', KERAS_1_1, 0),
    'music_tagger_cnn_weights_theano.h5':
        ('cnn-msd', 'theano', KERAS_1_0, 0),
    'music_tagger_cnn_weights_tensorflow.h5':
        ('cnn-msd', 'tensorflow', KERAS_1_0, 0),
    'cnn_weights_theano.h5': ('cnn0-msd', 'theano', KERAS_1_0, 2),
    'cnn_weights_tensorflow.h5': ('cnn0-msd', 'tensorflow', KERAS_1_0, 2),
    'rnn_weights_theano.h5': ('rnn0-msd', 'theano', KERAS_1_0, 2),
    'rnn_weights_tensorflow.h5': ('rnn0-msd', 'tensorflow', KERAS_1_0, 2),
    # The first releases (keras-weights/v1/): the conv blocks nested in a
    # Sequential (``ConvBNEluDr``, ``sequential_4``) and auto-generated
    # layer names (upstream recurrentnet.py @ 3eaedbf, convnet.py @
    # bffb625: the same layers, pools and BN modes as the later files).
    'v1/rnn_weights_best.hdf5': ('rnn0-msd-v1', 'theano', KERAS_1_0, 2),
    'v1/weights_best.hdf5': ('cnn0-msd-v1', 'theano', KERAS_1_0, 2),
}

#: Pooling of the conv blocks, from Choi's model definitions.
CRNN_POOLS = ((2, 2), (3, 3), (4, 4), (4, 4))
CNN_POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))
#: MusicTaggerCRNN's ``ZeroPadding2D(padding=(0, 37))``.
CRNN_PAD = 37

#: Keras-1 ``get_weights()`` order of each layer type.
BN_WEIGHTS = ('gamma', 'beta', 'running_mean', 'running_std')
CONV_WEIGHTS = DENSE_WEIGHTS = ('W', 'b')
GRU_WEIGHTS = ('W_z', 'U_z', 'b_z', 'W_r', 'U_r', 'b_r', 'W_h', 'U_h',
               'b_h')


#: The weights of each Keras-1 layer type, by their names after the
#: layer's prefix (``convolution2d_5_W`` -> ``W``), longest first.
WEIGHT_SUFFIXES = sorted(set(BN_WEIGHTS + CONV_WEIGHTS + GRU_WEIGHTS),
                         key=len, reverse=True)
#: Keras-1's auto-generated layer names (the first releases) and the names
#: Choi's later models gave the same layers, numbered in file order.
AUTO_NAMES = (('batchnormalization_', ['bn_0_freq'] +
               ['bn{}'.format(i) for i in range(1, 6)]),
              ('convolution2d_', ['conv{}'.format(i) for i in range(1, 6)]),
              ('gru_', ['gru1', 'gru2']),
              ('dense_', ['output']))


def split_layers(group):
    """``[(layer name, [arrays])]`` of one saved group, in the order of its
    ``weight_names``: one layer, or a nested container (Keras 1 saves a
    ``Sequential`` inside a model as one group listing all its layers'
    weights, trainable ones first), split by the weights' name prefixes.
    A group whose weights all carry its own name as prefix is one layer
    (TensorFlow files name them ``conv1_W:0``)."""
    names = [w.decode() if isinstance(w, bytes) else w
             for w in group.attrs['weight_names']]
    own = group.name.split('/')[-1]
    if all(w.startswith(own + '_') for w in names):
        return [(own, [np.asarray(group[w], dtype=np.float64)
                       for w in names])]
    layers = {}
    for w in names:
        [suffix] = [s for s in WEIGHT_SUFFIXES if w.endswith('_' + s)][:1]
        layers.setdefault(w[:-len(suffix) - 1], []).append(
            np.asarray(group[w], dtype=np.float64))
    return list(layers.items())


def rename_auto(layers):
    """Give auto-named layers (``batchnormalization_6``, ``dense_2``) the
    names of Choi's later models (``bn_0_freq``, ``output``) by their
    order of kind in the file; named layers keep their names."""
    counts = {}
    out = {}
    for name, arrays in layers:
        for prefix, names in AUTO_NAMES:
            if name.startswith(prefix):
                k = counts.get(prefix, 0)
                counts[prefix] = k + 1
                name = names[k]
                break
        out[name] = arrays
    return out


def read_weights(path):
    """``{layer name: [float64 arrays in Keras order]}`` of a Keras-1 file.

    Layers without weights (input, padding, pooling, ...) are skipped; a
    nested container is split into its layers, and auto-generated names
    are replaced by Choi's (:func:`rename_auto`).  A BN layer inside a
    container lists its running statistics after the trainable weights of
    all layers, which keeps the ``gamma, beta, running_mean, running_std``
    order within the layer.
    """
    layers = []
    with h5py.File(path, 'r') as f:
        for name in f.attrs['layer_names']:
            name = name.decode() if isinstance(name, bytes) else name
            group = f[name] if name in f else None
            if group is None or not len(group.attrs.get('weight_names', [])):
                continue
            layers.extend(split_layers(group))
    return rename_auto(layers)


def named(arrays, names, layer):
    """Keras-1 weights of one layer by their Keras names (the order of
    ``get_weights``), checking the count."""
    assert len(arrays) == len(names), (layer, len(arrays), names)
    return dict(zip(names, arrays))


def load(path, backend):
    """The parameters of a tagger's weight file, ready for :func:`forward`.

    Theano's ``conv2d`` is a true convolution: its kernels are flipped here
    in both spatial axes to be applied as a cross-correlation; TensorFlow
    files already hold them flipped.
    """
    raw = read_weights(path)
    p = {}
    for layer, arrays in raw.items():
        if layer.startswith('bn'):
            p[layer] = named(arrays, BN_WEIGHTS, layer)
        elif layer.startswith('conv'):
            w = named(arrays, CONV_WEIGHTS, layer)
            if backend == 'theano':
                w['W'] = w['W'][:, :, ::-1, ::-1]
            p[layer] = w
        elif layer.startswith('gru'):
            p[layer] = named(arrays, GRU_WEIGHTS, layer)
        elif layer in ('output', 'preds'):
            p['output'] = named(arrays, DENSE_WEIGHTS, layer)
        else:
            raise AssertionError('unexpected layer {}'.format(layer))
    return p


def batch_norm(x, w, axis, keras_bn, batch_statistics=False):
    """Keras-1 BatchNormalization of ``x`` along ``axis``.

    Mode 0 at test time uses the stored statistics; mode 2
    (``batch_statistics``) the batch's own, over all other axes.
    ``keras_bn`` is :data:`KERAS_1_0` or :data:`KERAS_1_1`::

        1.0 test:   (x - running_mean) / (running_std + eps)
        1.0 mode 2: (x - mean) / (sqrt(mean((x - mean)**2) + eps) + eps)
        1.1 test:   (x - running_mean) / sqrt(running_std + eps)
    """
    meaning, eps = keras_bn
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def b(v):
        return np.reshape(v, shape)
    if batch_statistics:
        assert meaning == 'std', 'no published mode-2 file of Keras 1.1'
        other = tuple(i for i in range(x.ndim) if i != axis)
        normed = x - x.mean(axis=other, keepdims=True)
        std = np.sqrt((normed ** 2).mean(axis=other, keepdims=True) + eps)
        normed /= std + eps
    elif meaning == 'std':
        normed = x - b(w['running_mean'])
        normed /= b(w['running_std']) + eps
    else:
        normed = x - b(w['running_mean'])
        normed /= np.sqrt(b(w['running_std']) + eps)
    normed *= b(w['gamma'])
    normed += b(w['beta'])
    return normed


def conv3x3_same(x, W, b, rows=8):
    """'same' 3x3 cross-correlation of ``x`` (N, C, H, W) with ``W``
    (O, C, 3, 3), plus the bias: im2col, a few rows at a time."""
    n, c, h, wd = x.shape
    xp = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    # patches[k, y, x, i, j, c] = xp[k, y + i, x + j, c]
    patches = np.lib.stride_tricks.sliding_window_view(
        xp, (3, 3), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    kernel = W.transpose(2, 3, 1, 0).reshape(9 * c, -1)
    out = np.empty((n, h, wd, W.shape[0]))
    for k in range(n):
        for y in range(0, h, rows):
            cols = patches[k, y:y + rows].reshape(-1, 9 * c)
            out[k, y:y + rows] = (cols @ kernel).reshape(-1, wd, W.shape[0])
    out += b
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def elu(x):
    """Keras' ELU (alpha 1), in place."""
    negative = x < 0
    x[negative] = np.expm1(x[negative])
    return x


def max_pool(x, pool):
    """Non-overlapping max pooling that drops a ragged border
    (``ignore_border=True``)."""
    ph, pw = pool
    n, c, h, w = x.shape
    x = x[:, :, :h // ph * ph, :w // pw * pw]
    return x.reshape(n, c, h // ph, ph, w // pw, pw).max(axis=(3, 5))


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def gru(x, w):
    """Keras-1 GRU over ``x`` (N, T, D) from a zero state: every state."""
    h = np.zeros((x.shape[0], w['U_z'].shape[0]))
    states = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = hard_sigmoid(xt @ w['W_z'] + w['b_z'] + h @ w['U_z'])
        r = hard_sigmoid(xt @ w['W_r'] + w['b_r'] + h @ w['U_r'])
        hh = np.tanh(xt @ w['W_h'] + w['b_h'] + (r * h) @ w['U_h'])
        h = z * h + (1 - z) * hh
        states.append(h)
    return np.stack(states, axis=1)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(params, melgrams, keras_bn, conv_bn_mode):
    """Scores and features of a batch of melgrams (N, 1, 96, 1366).

    Parameters
    ----------
    params : dict
        From :func:`load`.
    keras_bn : tuple
        :data:`KERAS_1_0` or :data:`KERAS_1_1`.
    conv_bn_mode : {0, 2}
        Keras BN mode of the conv blocks (the input BN is always mode 0).

    Returns
    -------
    scores : ndarray (N, n_tags)
    features : ndarray
        The CRNN's last GRU state (N, 32) or the CNN's flattened last
        block (N, 256).
    """
    x = np.asarray(melgrams, dtype=np.float64)
    crnn = 'gru1' in params
    if crnn:
        x = np.pad(x, ((0, 0), (0, 0), (0, 0), (CRNN_PAD, CRNN_PAD)))
    x = batch_norm(x, params['bn_0_freq'], 3, keras_bn)
    for i, pool in enumerate(CRNN_POOLS if crnn else CNN_POOLS, 1):
        conv = params['conv{}'.format(i)]
        x = conv3x3_same(x, conv['W'], conv['b'])
        x = batch_norm(x, params['bn{}'.format(i)], 1, keras_bn,
                       batch_statistics=conv_bn_mode == 2)
        x = max_pool(elu(x), pool)
    if crnn:
        # Permute((3, 1, 2)) then Reshape((15, 128)): (N, 128, 1, 15) ->
        # 15 time steps of 128 channels.
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], x.shape[3], -1)
        features = gru(gru(x, params['gru1']), params['gru2'])[:, -1]
    else:
        features = x.reshape(x.shape[0], -1)
    out = params['output']
    return sigmoid(features @ out['W'] + out['b']), features


def run(directory, filename, melgrams):
    """``(scores, features)`` of a published file (see :data:`FILES`)."""
    _, backend, keras_bn, conv_bn_mode = FILES[filename]
    return forward(load(directory / filename, backend), melgrams, keras_bn,
                   conv_bn_mode)
