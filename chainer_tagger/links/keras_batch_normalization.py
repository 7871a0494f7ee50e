"""Keras-1 ``BatchNormalization`` as a Chainer link.

Keras 1 changed, between releases and between its two backends, what its
``running_std`` weight holds, where epsilon enters the division, and
epsilon itself.  The published weight files were written by one release
and run by others, so the link is told which release to be: a
:class:`~chainer_tagger.configuration.KerasPreset` (the table is
:data:`~chainer_tagger.configuration.KERAS_PRESETS`).  For example:

``'1.0.6-theano'`` (and 1.0.3-1.0.5 on either backend)
    ``running_std`` holds a standard deviation, the running average of
    ``sqrt(var + eps)``; test time ``(x - m) / (s + eps)``; mode 2
    ``(x - mu) / (sqrt(var + eps) + eps)``; eps 1e-6, momentum 0.9.
``'1.0.6-tensorflow'``
    The same file read as a variance: ``(x - m) / sqrt(s + eps)``.
``'1.0.7-theano'``
    A variance, ``(x - m) / (sqrt(s) + eps)``.
``'1.1-theano'``, ``'1.2'``...
    A variance, ``(x - m) / sqrt(s + eps)`` with eps 1e-5 (1.0.8-1.1.2) or
    1e-3 (1.2).

Every version computes the batch's statistics the same way (mean and
*biased* variance over all axes but ``axis``), turns the variance into
what it stores (:func:`batch_spread`) and divides by the same function of
it as at test time (:func:`divisor`).

Keras-1 modes:

``mode=0``
    Batch statistics while training (and the moving averages are updated),
    the moving averages at inference.
``mode=2``
    Batch statistics while training *and* at inference; the moving averages
    are never used.  A clip's output therefore depends on the other clips of
    its batch, exactly as it did in Keras.  ``per_clip=True`` computes the
    statistics over each clip alone instead, which makes results independent
    of batch composition (but no longer identical to Keras for batches of
    more than one clip).
"""
import numpy

import chainer
import chainer.functions as F
from chainer import initializers

from chainer_tagger.configuration import RUNNING_STD_ALIASES, keras_preset
from chainer_tagger.functions import (
    BatchNormSpec, batch_norm_activation_pool, batch_norm_affine,
    cpu_kernels_apply, global_moments)
from chainer_tagger.functions.kernel_choice import host_only


def batch_spread(preset, var, sqrt):
    """What a Keras release computes from a batch's (biased) variance
    ``var``, stores in ``running_std``, and divides by in mode 2.

    Keras <= 1.0.6 on Theano took the standard deviation with eps inside
    (``sqrt(mean((x - mu)**2 + eps))``); every later release (and 1.0.6 on
    TensorFlow, whose ``tf.nn.moments`` returns a variance) keeps ``var``.
    ``sqrt`` is ``numpy.sqrt``/``cupy.sqrt`` for arrays, ``F.sqrt`` for
    variables.
    """
    if preset.running_std == 'std':
        return sqrt(var + preset.eps)
    return var


def divisor(preset, spread, sqrt):
    """What ``x - mean`` is divided by, given ``spread`` (the stored
    ``running_std`` at test time, :func:`batch_spread` in mode 2).

    ``s + eps``: Keras <= 1.0.6 Theano, ``T.inv(std + epsilon)``.
    ``sqrt(s) + eps``: Keras 1.0.7 Theano, which handed ``sqrt(var) + eps``
    to ``T.nnet.bn.batch_normalization`` as its std.
    ``sqrt(s + eps)``: TensorFlow's ``rsqrt(variance + variance_epsilon)``,
    and Theano from 1.0.8 on.
    """
    if preset.divisor == 's + eps':
        return spread + preset.eps
    if preset.divisor == 'sqrt(s) + eps':
        return sqrt(spread) + preset.eps
    return sqrt(spread + preset.eps)


@host_only
def divisor_of_variance(preset, var):
    """``(d, dd/dvar)``: :func:`divisor` as a function of the batch's
    (biased) variance (NumPy arrays, mode 2 and training) and its
    derivative, which the fused CPU kernel's backward pass needs."""
    if preset.running_std == 'std':
        spread = numpy.sqrt(var + preset.eps)
        spread_slope = 0.5 / spread
    else:
        spread, spread_slope = var, 1.0
    d = divisor(preset, spread, numpy.sqrt)
    if preset.divisor == 's + eps':
        return d, spread_slope
    if preset.divisor == 'sqrt(s) + eps':
        return d, spread_slope * 0.5 / numpy.sqrt(spread)
    return d, spread_slope * 0.5 / d


def batch_moments(x, axes):
    """Mean and biased variance of array ``x`` over ``axes`` (kept as
    size-1 axes), summed in float64 and returned in ``x.dtype``.

    Why float64 sums: NumPy adds a float32 array naively along axes that
    are not contiguous in memory, and a conv block's channel statistics
    over a 4-clip batch add up half a million values; summed that way the
    variance of Choi's early CNN is off by 0.5 % and its mode-2 scores by
    up to 7e-5, far from the original's 8-digit table.  With float64 sums
    the float32 forward matches that table to 1e-7.  For arrays only (no
    gradient flows through them).
    """
    xp = chainer.backend.get_array_module(x)
    mean = xp.mean(x, axis=axes, dtype=numpy.float64, keepdims=True)
    centered = x - mean.astype(x.dtype)
    var = xp.mean(xp.square(centered), axis=axes, dtype=numpy.float64,
                  keepdims=True)
    return mean.astype(x.dtype), centered, var.astype(x.dtype)


class KerasBatchNormalization(chainer.Link):
    """Batch normalization with Keras-1 semantics along any axis.

    Parameters
    ----------
    size : int
        Length of the normalized axis (channels, or time frames for the
        input normalization of Choi's models).
    axis : int
        Axis of the input (batch axis included) whose entries each get their
        own statistics, as Keras' ``axis`` argument.  All other axes are
        reduced.
    mode : {0, 2}
        Keras-1 mode (see module docstring).
    keras : str or KerasPreset
        The Keras release (and backend) whose semantics to follow:
        ``'1.0.5'``, ``'1.0.6-theano'``, ``'1.0.6-tensorflow'``,
        ``'1.0.7-theano'``, ``'1.0.7-tensorflow'``, ``'1.1-theano'``,
        ``'1.1-tensorflow'`` or ``'1.2'``.
    eps, momentum : float, optional
        Override the preset's (a layer built with an explicit epsilon).
    per_clip : bool
        With ``mode=2``, take statistics per clip instead of per batch.
    running_std_is : {'std', 'variance'}, optional
        The former setting, kept as an alias: ``'std'`` is ``'1.0.6-theano'``,
        ``'variance'`` is ``'1.1-theano'``.
    """

    def __init__(self, size, axis=1, mode=0, keras='1.1-theano', eps=None,
                 momentum=None, per_clip=False, running_std_is=None):
        super().__init__()
        if mode not in (0, 2):
            raise ValueError('Keras BatchNormalization mode must be 0 or 2, '
                             'got {!r}'.format(mode))
        if running_std_is is not None:
            keras = _alias(running_std_is)
        preset = keras_preset(keras)
        if eps is not None or momentum is not None:
            preset = preset._replace(
                eps=preset.eps if eps is None else eps,
                momentum=preset.momentum if momentum is None else momentum)
        self.preset = preset
        self.size = size
        self.axis = axis
        self.mode = mode
        self.per_clip = per_clip
        #: A ChainerMN communicator: batch statistics over all processes
        #: (set by
        #: :func:`chainer_tagger.training.distributed.make_batch_norm_global`).
        self.comm = None
        with self.init_scope():
            self.gamma = chainer.Parameter(initializers.One(), (size,))
            self.beta = chainer.Parameter(initializers.Zero(), (size,))
        dtype = chainer.get_dtype()
        self.add_persistent('running_mean', self.xp.zeros(size, dtype))
        self.add_persistent('running_std', self.xp.ones(size, dtype))

    @property
    def eps(self):
        return self.preset.eps

    @property
    def momentum(self):
        return self.preset.momentum

    @property
    def uses_batch_statistics(self):
        """Whether the layer normalizes with the batch's statistics now
        (mode 2 always; mode 0 while training)."""
        return self.mode == 2 or bool(chainer.config.train)

    def inference_affine(self):
        """``(scale, shift)``: mode-0 inference is ``x * scale + shift``
        per entry of the normalized axis (arrays, no graph)."""
        return batch_norm_affine(
            self.gamma.array, self.beta.array, self.running_mean,
            divisor(self.preset, self.running_std, self.xp.sqrt))

    def batch_statistics(self):
        """The normalization on batch statistics as a
        :class:`~chainer_tagger.functions.BatchNormSpec` for the fused CPU
        kernels, or None when the statistics are gathered from other
        processes (``comm``): those run on Chainer's standard functions."""
        if self.comm is not None and not self.per_clip:
            return None
        preset = self.preset

        def update(mean, var, count):
            self._update_running(mean, batch_spread(preset, var, numpy.sqrt))
        keep_running = self.mode == 0 and chainer.config.train
        return BatchNormSpec(
            self.gamma, self.beta,
            lambda var: divisor_of_variance(preset, var), self.per_clip,
            update if keep_running else None)

    def forward(self, x):
        if x.shape[self.axis] != self.size:
            raise ValueError(
                'KerasBatchNormalization expects {} entries along axis {}, '
                'got input of shape {}'.format(self.size, self.axis, x.shape))
        if not self.uses_batch_statistics:
            scale, shift = self.inference_affine()
            return F.bias(F.scale(x, scale, self.axis), shift, self.axis)

        reduce_axes = tuple(
            i for i in range(x.ndim)
            if i != self.axis and not (self.per_clip and i == 0))
        shape = [1] * x.ndim
        shape[self.axis] = self.size
        if self.comm is None and not chainer.config.enable_backprop:
            return chainer.Variable(self._normalize_array(
                _array(x), reduce_axes, shape))
        spec = self.batch_statistics()
        if spec is not None and cpu_kernels_apply(x, self.gamma):
            return batch_norm_activation_pool(x, spec, self.axis)
        if self.comm is not None and not self.per_clip:
            mean, centered, var = global_moments(x, reduce_axes, self.comm)
        else:
            mean = F.mean(x, axis=reduce_axes, keepdims=True)
            centered = x - F.broadcast_to(mean, x.shape)
            var = F.mean(F.square(centered), axis=reduce_axes,
                         keepdims=True)
        spread = batch_spread(self.preset, var, F.sqrt)
        normed = centered / F.broadcast_to(
            divisor(self.preset, spread, F.sqrt), x.shape)
        if self.mode == 0 and chainer.config.train:
            self._update_running(mean.array, spread.array)
        gamma = F.broadcast_to(F.reshape(self.gamma, shape), x.shape)
        beta = F.broadcast_to(F.reshape(self.beta, shape), x.shape)
        return normed * gamma + beta

    def _normalize_array(self, x, reduce_axes, shape):
        """Batch statistics without a graph: accurate sums
        (:func:`batch_moments`) and the normalization done in place."""
        mean, out, var = batch_moments(x, reduce_axes)
        spread = batch_spread(self.preset, var, self.xp.sqrt)
        if self.mode == 0 and chainer.config.train:
            self._update_running(mean, spread)
        out *= self.gamma.array.reshape(shape) / divisor(
            self.preset, spread, self.xp.sqrt)
        out += self.beta.array.reshape(shape)
        return out

    def _update_running(self, mean, spread):
        m = self.preset.momentum
        self.running_mean[...] = (
            m * self.running_mean + (1 - m) * mean.reshape(-1))
        self.running_std[...] = (
            m * self.running_std + (1 - m) * spread.reshape(-1))


def _array(a):
    return a.array if isinstance(a, chainer.Variable) else a


def _alias(running_std_is):
    try:
        return RUNNING_STD_ALIASES[running_std_is]
    except KeyError:
        raise ValueError("running_std_is must be 'variance' or 'std', "
                         'got {!r}'.format(running_std_is)) from None
