"""An independent float64 NumPy forward pass of SoundNet-8.

Written from the SoundNet paper (Aytar, Vondrick & Torralba, 2016) and the
TensorFlow conversion that published ``sound8.npy`` (its ``model.py`` and
``ops.py``): the waveform in [-1, 1] times 256, as an ``(N, T, 1, 1)``
NHWC image; each layer zero-pads the time axis by ``pad`` on both sides
(``tf.pad``), correlates with the ``(k, 1, C_in, C_out)`` kernel at stride
``stride`` and ``padding='VALID'`` (``tf.nn.conv2d``, a cross-correlation:
no kernel flip), adds the bias, then ``tf.nn.batch_normalization`` with the
stored ``mean``, ``var``, ``gamma``, ``beta`` and eps 1e-5 (the
conversion's ``config['eps']``), ReLU, and ``tf.nn.max_pool`` with
``padding='VALID'`` (a ragged end is dropped) after conv1, conv2 and
conv5.  The two heads, ``conv8`` (1000 objects) and ``conv8_2`` (401
scenes), are plain convolutions of kernel 8, stride 2, no padding, on
conv7's output.

Nothing of ``chainer_tagger`` is imported, not even its configuration:
the layer table below is the paper's Table / the conversion's
``add_generator``.  The pickle is read only after its sha256 is checked.
It is slow and literal on purpose.
"""
import hashlib

import numpy as np

#: sha256 of the published sound8.npy (the TF conversion).
SOUND8_SHA256 = \
    '7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5'

#: The conversion's ``config['eps']`` of ``tf.nn.batch_normalization``.
EPS = 1e-5
#: SoundNet's input scale: samples in [-1, 1] to [-256, 256].
INPUT_SCALE = 256.0

#: (name, kernel, stride, pad, max-pool size = stride) of conv1..conv7, as
#: in the conversion's ``add_generator``:
#: ``conv2d(x, in, out, k_h, d_h, p_h)``, then ``maxpool(k_h=8, d_h=8)``.
LAYERS = (
    ('conv1', 64, 2, 32, 8),
    ('conv2', 32, 2, 16, 8),
    ('conv3', 16, 2, 8, None),
    ('conv4', 8, 2, 4, None),
    ('conv5', 4, 2, 2, 4),
    ('conv6', 4, 2, 2, None),
    ('conv7', 4, 2, 2, None),
)
#: conv8 and conv8_2: kernel 8, stride 2, no padding, no BN.
HEADS = (('conv8', 8, 2), ('conv8_2', 8, 2))


def load(path):
    """The layers of ``sound8.npy`` as float64 arrays, after checking the
    file's sha256 (it is a pickle: loading it runs code)."""
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SOUND8_SHA256:
        raise AssertionError('{}: sha256 {} is not the published '
                             'sound8.npy'.format(path, digest))
    raw = np.load(path, allow_pickle=True, encoding='latin1').item()
    return {layer: {k: np.asarray(v, dtype=np.float64)
                    for k, v in weights.items()}
            for layer, weights in raw.items()}


def conv_valid(x, kernel, bias, stride, pad):
    """``tf.pad`` then ``tf.nn.conv2d(padding='VALID')`` along time.

    ``x`` is ``(N, T, C_in)`` (NHWC with the unit W axis dropped),
    ``kernel`` the TF ``(k, 1, C_in, C_out)``; returns ``(N, T', C_out)``
    with ``out[n, t, o] = sum_{i, c} xp[n, stride * t + i, c] *
    kernel[i, 0, c, o] + bias[o]``.
    """
    k, _, c_in, c_out = kernel.shape
    assert x.shape[2] == c_in
    xp = np.pad(x, ((0, 0), (pad, pad), (0, 0)))
    n_out = (xp.shape[1] - k) // stride + 1
    # windows[n, t, c, i] = xp[n, t + i, c]; every stride-th window.
    windows = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)
    windows = windows[:, ::stride][:, :n_out]
    w = kernel[:, 0].transpose(1, 0, 2).reshape(c_in * k, c_out)
    out = windows.reshape(x.shape[0], n_out, c_in * k) @ w
    return out + bias


def batch_normalization(x, p):
    """``tf.nn.batch_normalization(x, mean, var, beta, gamma, eps)``."""
    return (x - p['mean']) / np.sqrt(p['var'] + EPS) * p['gamma'] + p['beta']


def max_pool_valid(x, size):
    """``tf.nn.max_pool`` of ``size`` and stride ``size``, 'VALID'."""
    n, t, c = x.shape
    t_out = t // size
    return x[:, :t_out * size].reshape(n, t_out, size, c).max(axis=2)


def forward(params, waveforms):
    """Every layer's output of SoundNet-8 on ``waveforms`` (N, T) in [-1, 1].

    Returns
    -------
    dict
        ``{'conv1': ..., ..., 'conv7': ..., 'conv8': ..., 'conv8_2': ...}``,
        each float64 ``(N, C, T')`` (channels first, as the package gives
        them); conv1..conv7 after BN, ReLU and pooling.
    """
    x = np.asarray(waveforms, dtype=np.float64)[:, :, None] * INPUT_SCALE
    out = {}
    for name, kernel, stride, pad, pool in LAYERS:
        p = params[name]
        assert p['weights'].shape[0] == kernel, name
        x = conv_valid(x, p['weights'], p['biases'], stride, pad)
        x = np.maximum(batch_normalization(x, p), 0.0)
        if pool:
            x = max_pool_valid(x, pool)
        out[name] = x.transpose(0, 2, 1)
    for name, kernel, stride in HEADS:
        p = params[name]
        assert p['weights'].shape[0] == kernel, name
        out[name] = conv_valid(x, p['weights'], p['biases'], stride,
                               0).transpose(0, 2, 1)
    return out
