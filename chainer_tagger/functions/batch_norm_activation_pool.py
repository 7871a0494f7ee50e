"""Batch normalization on batch statistics, an activation and max pooling,
as one differentiable Chainer function on the CPU.

Chainer's graph of the same (a dozen elementwise functions for Keras' BN,
then the activation and max pooling through an im2col copy) writes a
full-size array at every step.  Here, for statistics per channel, compiled
loops (Numba) read each channel of a clip twice while it is in cache, one
clip per core:

* forward: the channel's mean and centred sum of squares (float64), and
  its max pooling, taken on the input *before* normalizing it: per
  channel the normalization is
  ``x * scale + shift`` with the sign of ``scale`` that of ``gamma``, so
  the window's maximum after it is the maximum (``gamma >= 0``) or the
  minimum (``gamma < 0``) before it, and only pooled values are
  normalized and activated;
* backward: the sums it needs come from the pooled values alone (the
  gradient reaches only the maxima), then each channel's input gradient
  is written at once.

With ``m`` values per statistic, the divisor ``d = D(var)`` (``sqrt(var +
eps)``, or what a Keras release used) and ``gz`` the gradient at the
normalized values::

    gx = A gz + C (x - mean) - A mean(gz),
    A = gamma / d,  C = -2 gamma D'(var) sum(gz (x - mean)) / (m d^2)

What the backward pass keeps: the input, the output and one byte per pooled
value (where its maximum was).  Statistics along
another axis than the channels (the taggers' input normalization per time
frame) take a plain NumPy path without pooling.
"""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import collections
import math

import numba
import numpy as np

import chainer

from chainer_tagger.functions.clip_parallel import for_each_clip
from chainer_tagger.functions.kernel_choice import forbid_double_backprop
from chainer_tagger.functions.max_pooling import max_pool_kernel

#: A batch normalization that takes the statistics of its input.
#:
#: ``gamma``, ``beta``: its parameters (Variables); ``divisor``:
#: ``divisor(var) -> (d, dd/dvar)``, what ``x - mean`` is divided by as a
#: function of the batch's biased variance, and its derivative (float64
#: arrays; ``sqrt(var + eps)`` for Chainer's BN, Keras releases differ);
#: ``per_clip``: statistics of each clip alone instead of the batch;
#: ``update``: ``update(mean, var, count)`` with the batch moments
#: (``(size,)`` arrays, biased variance) to keep running averages, or None.
BatchNormSpec = collections.namedtuple(
    'BatchNormSpec', 'gamma beta divisor per_clip update')

ACTIVATIONS = (None, 'relu', 'elu')


@numba.njit(nogil=True, cache=True, fastmath={'reassoc', 'contract'})
def channel_moments(x):
    """Per channel of one clip ``(C, H, W)``: mean and sum of squared
    deviations, in float64 (shifted by the first value, so that the
    one-pass sums do not cancel)."""
    c = x.shape[0]
    n = x.shape[1] * x.shape[2]
    means = np.empty(c, np.float64)
    squares = np.empty(c, np.float64)
    for i in range(c):
        shift = np.float64(x[i, 0, 0])
        s1 = 0.0
        s2 = 0.0
        for r in range(x.shape[1]):
            for j in range(x.shape[2]):
                d = np.float64(x[i, r, j]) - shift
                s1 += d
                s2 += d * d
        means[i] = shift + s1 / n
        squares[i] = max(s2 - s1 * s1 / n, 0.0)
    return means, squares


@numba.njit(nogil=True, cache=True)
def _pooled_input_gradient(x, gz, offsets, ph, pw, a, c, b, gx):
    """``gx = c x + b`` per channel of one clip ``(C, H, W)``, plus
    ``a gz`` (pooled) at each window's maximum."""
    rows = np.arange(ph * pw) // pw
    cols = np.arange(ph * pw) % pw
    for i in range(x.shape[0]):
        slope = c[i]
        bias = b[i]
        scale = a[i]
        for r in range(x.shape[1]):
            for j in range(x.shape[2]):
                gx[i, r, j] = slope * x[i, r, j] + bias
        for u in range(gz.shape[1]):
            for v in range(gz.shape[2]):
                k = offsets[i, u, v]
                gx[i, u * ph + rows[k], v * pw + cols[k]] += \
                    scale * gz[i, u, v]


@numba.njit(nogil=True, cache=True)
def _input_gradient(x, gz, a, c, b, gx):
    """``gx = a gz + c x + b`` per channel of one clip ``(C, P)``."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            gx[i, j] = a[i] * gz[i, j] + c[i] * x[i, j] + b[i]


@numba.njit(nogil=True, cache=True)
def _normalize_activate(pooled, scale, shift, activation, out):
    """``out = activation(pooled * scale + shift)`` per channel of one clip
    ``(C, P)``; ``activation`` is an index into :data:`ACTIVATIONS`."""
    for i in range(pooled.shape[0]):
        s = scale[i]
        t = shift[i]
        for j in range(pooled.shape[1]):
            z = pooled[i, j] * s + t
            if activation == 1:
                z = max(z, 0)
            elif activation == 2 and z < 0:
                z = math.expm1(z)
            out[i, j] = z


@numba.njit(nogil=True, cache=True, fastmath={'reassoc', 'contract'})
def _pooled_gradient_sums(x, offsets, ph, pw, gh, out, mean, activation, gz,
                          sums):
    """:func:`_gradient_sums` for a pooled clip: the pooled values are
    gathered from ``x`` (``(C, H, W)``) at the maxima."""
    rows = np.arange(ph * pw) // pw
    cols = np.arange(ph * pw) % pw
    for i in range(gh.shape[0]):
        m = mean[i]
        s1 = 0.0
        s2 = 0.0
        for u in range(gh.shape[1]):
            for v in range(gh.shape[2]):
                g = gh[i, u, v]
                if activation == 1 and out[i, u, v] <= 0:
                    g = 0
                elif activation == 2 and out[i, u, v] <= 0:
                    g = g * (out[i, u, v] + 1)
                gz[i, u, v] = g
                k = offsets[i, u, v]
                value = x[i, u * ph + rows[k], v * pw + cols[k]]
                s1 += g
                s2 += g * (np.float64(value) - m)
        sums[0, i] = s1
        sums[1, i] = s2


@numba.njit(nogil=True, cache=True, fastmath={'reassoc', 'contract'})
def _gradient_sums(gh, out, pooled, mean, activation, gz, sums):
    """For one clip ``(C, P)``: ``gz = gh * activation'(out)``, and per
    channel ``sums[0] = sum(gz)``, ``sums[1] = sum(gz (pooled - mean))``
    (float64)."""
    for i in range(gh.shape[0]):
        m = mean[i]
        s1 = 0.0
        s2 = 0.0
        for j in range(gh.shape[1]):
            g = gh[i, j]
            if activation == 1 and out[i, j] <= 0:
                g = 0
            elif activation == 2 and out[i, j] <= 0:
                g = g * (out[i, j] + 1)
            gz[i, j] = g
            s1 += g
            s2 += g * (np.float64(pooled[i, j]) - m)
        sums[0, i] = s1
        sums[1, i] = s2


def _activate_(p, activation):
    if activation == 'relu':
        np.maximum(p, 0, out=p)
    elif activation == 'elu':
        negative = np.minimum(p, 0)
        np.expm1(negative, out=negative)
        np.maximum(p, negative, out=p)
    return p


def _activation_slope(out, activation):
    """The activation's derivative, from its output."""
    if activation == 'relu':
        return (out > 0).astype(out.dtype)
    return np.where(out > 0, 1, out + 1).astype(out.dtype)


class BatchNormActivationPool(chainer.FunctionNode):
    """``pool(activation(BN(x)))`` with BN on the statistics of ``x``.

    Inputs ``(x, gamma, beta)``; ``axis`` is the axis of ``x`` whose
    entries have their own statistics (all others are reduced, the batch
    axis too unless ``spec.per_clip``).  ``pool`` (a window over the one
    or two axes after the channels, also the stride; ``axis`` must then be
    1) and ``activation`` (None, ``'relu'``, ``'elu'``) are optional.
    With ``consume_input`` (an input that nothing else reads, such as a
    convolution's output inside a fused block) the input gradient is
    written over the input, which the graph keeps anyway: one full-size
    array less at the peak of the backward pass.
    """

    def __init__(self, spec, axis=1, activation=None, pool=None,
                 consume_input=False):
        if activation not in ACTIVATIONS:
            raise ValueError('activation must be one of {}, got {!r}'.format(
                ACTIVATIONS, activation))
        if pool is not None:
            pool = tuple(pool)
            if axis != 1 or len(pool) > 2 or int(np.prod(pool)) > 256:
                raise ValueError('pooling needs axis 1, one or two pooled '
                                 'axes and a window of at most 256 values')
        self.spec = spec
        self.axis = axis
        self.activation = activation
        self.pool = pool if pool is not None and max(pool) > 1 else None
        self.consume_input = consume_input

    # -- shared by both paths ----------------------------------------------

    def _affine(self, gamma, beta, mean, var):
        """``(scale, shift)`` of the normalization, and keeps what the
        backward pass needs."""
        self.divisor, self.divisor_slope = self.spec.divisor(
            np.asarray(var, np.float64))
        self.mean = mean
        scale = gamma / self.divisor
        return scale, beta - mean * scale

    def _backward_coefficients(self, gamma, sum_g, sum_gx, dtype):
        """``(A, B, C)`` of ``gx = A gz + B + C x`` (see the module
        docstring), from the sums of ``gz`` and ``gz (x - mean)``."""
        d = self.divisor.astype(np.float64)
        a = gamma / d
        c = -2 * gamma * self.divisor_slope * sum_gx / (self.count * d * d)
        b = -a * sum_g / self.count - c * self.mean
        return tuple(v.astype(dtype) for v in (a, b, c))

    def _parameter_gradients(self, indexes, sum_g, sum_gx, gamma):
        """Gradients of gamma and beta (sums over clips when per clip)."""
        size = gamma.size
        g_gamma = g_beta = None
        if 1 in indexes:
            g_gamma = (sum_gx / self.divisor).reshape(-1, size).sum(
                axis=0).astype(gamma.dtype)
        if 2 in indexes:
            g_beta = sum_g.reshape(-1, size).sum(axis=0).astype(gamma.dtype)
        return g_gamma, g_beta

    def forward_cpu(self, inputs):
        x, gamma, beta = inputs
        self.retain_inputs((0, 1))
        if self.axis == 1:
            out = self._forward_channels(x, gamma, beta)
        else:
            out = self._forward_any_axis(x, gamma, beta)
        if self.activation is not None:
            self.retain_outputs((0,))
        return out,

    def backward(self, indexes, grad_outputs):
        forbid_double_backprop('BatchNormActivationPool')
        x, gamma = (v.array for v in self.get_retained_inputs())
        gh = grad_outputs[0].array
        out = None if self.activation is None else \
            self.get_retained_outputs()[0].array
        if self.axis == 1:
            gx, sum_g, sum_gx = self._backward_channels(x, gamma, gh, out,
                                                        0 in indexes)
        else:
            gz = gh if out is None else \
                gh * _activation_slope(out, self.activation)
            gx, sum_g, sum_gx = self._backward_any_axis(x, gamma, gz)
        grads = (gx,) + self._parameter_gradients(indexes, sum_g, sum_gx,
                                                  gamma)
        return tuple(None if g is None else chainer.Variable(g)
                     for g in grads)

    def _update(self, mean, var):
        if self.spec.update is not None:
            self.spec.update(mean.reshape(-1).astype(self.dtype),
                             var.reshape(-1).astype(self.dtype), self.count)

    # -- statistics per channel: compiled loops, pooled before normalizing -

    def _clip_view(self, x):
        """``x`` as ``(N, C, H, W)`` (1-D inputs: ``H`` = 1) and the
        pooling window in that view."""
        if x.ndim == 3:
            return x[:, :, None], (1,) + (self.pool or (1,))
        return x, self.pool or (1, 1)

    def _forward_channels(self, x, gamma, beta):
        n, c = x.shape[:2]
        self.dtype = x.dtype
        x4, window = self._clip_view(x)
        pooled = window != (1, 1)
        out_shape = (n, c) + tuple(d // p for d, p in zip(x4.shape[2:],
                                                          window))
        # The pooled inputs are needed here only; backward gathers them
        # from the input again at the maxima (``offsets``).
        pooled_x = np.empty(out_shape, x.dtype) if pooled else x4
        self.offsets = np.empty(out_shape, np.uint8) if pooled else None
        flip = gamma < 0
        means = np.empty((n, c))
        squares = np.empty((n, c))

        pool = max_pool_kernel(*window) if pooled else None

        def clip_pass(i):
            means[i], squares[i] = channel_moments(x4[i])
            if pooled:
                pool(x4[i], flip, pooled_x[i], self.offsets[i])

        for_each_clip(clip_pass, n)
        count = x[0].size // c
        if self.spec.per_clip:
            mean, var = means, squares / count
        else:
            # Chan et al.'s combination of the clips' moments.
            mean = means.mean(axis=0)
            m2 = squares.sum(axis=0) + count * np.square(means - mean).sum(
                axis=0)
            count *= n
            mean, var = mean[None], m2[None] / count
        self.count = count
        self._update(mean, var)
        # Constants of shape (G, C, 1, 1): G = N per clip, else 1.
        const = (len(mean), c, 1, 1)
        scale, shift = self._affine(gamma.reshape(1, c, 1, 1),
                                    beta.reshape(1, c, 1, 1),
                                    mean.reshape(const), var.reshape(const))
        scale, shift = scale.astype(x.dtype), shift.astype(x.dtype)
        out = np.empty(out_shape, x.dtype)

        code = ACTIVATIONS.index(self.activation)

        def clip_output(i):
            g = i if len(scale) > 1 else 0
            _normalize_activate(pooled_x[i].reshape(c, -1),
                                scale[g].reshape(c), shift[g].reshape(c),
                                code, out[i].reshape(c, -1))

        for_each_clip(clip_output, n)
        return out.reshape(x.shape[:2] + tuple(
            d // p for d, p in zip(x.shape[2:], self.pool or (1,) * 2)))

    def _backward_channels(self, x, gamma, gh, out, need_x):
        n, c = x.shape[:2]
        x4, window = self._clip_view(x)
        shape = (n, c) + tuple(d // p for d, p in zip(x4.shape[2:], window))
        gh = np.ascontiguousarray(gh).reshape(shape)
        out = gh if out is None else out.reshape(shape)
        code = ACTIVATIONS.index(self.activation)
        grouped = len(self.mean) > 1
        gz = np.empty(shape, x.dtype)
        sums = np.empty((n, 2, c))

        def clip_sums(i):
            mean = self.mean[i if grouped else 0].reshape(c)
            if window == (1, 1):
                _gradient_sums(gh[i].reshape(c, -1), out[i].reshape(c, -1),
                               x4[i].reshape(c, -1), mean, code,
                               gz[i].reshape(c, -1), sums[i])
            else:
                _pooled_gradient_sums(x4[i], self.offsets[i], window[0],
                                      window[1], gh[i], out[i], mean, code,
                                      gz[i], sums[i])

        for_each_clip(clip_sums, n)
        sum_g, sum_gx = sums[:, 0], sums[:, 1]
        if not grouped:
            sum_g = sum_g.sum(axis=0, keepdims=True)
            sum_gx = sum_gx.sum(axis=0, keepdims=True)
        const = sum_g.shape + (1, 1)
        sum_g, sum_gx = sum_g.reshape(const), sum_gx.reshape(const)
        a, b, c_ = self._backward_coefficients(
            gamma.reshape(1, c, 1, 1).astype(np.float64), sum_g, sum_gx,
            x.dtype)
        if not need_x:
            return None, sum_g, sum_gx
        gx = x4 if self.consume_input else np.empty_like(x4)

        def clip_gradient(i):
            k = i if grouped else 0
            coefficients = (a[k].reshape(c), c_[k].reshape(c),
                            b[k].reshape(c))
            if window == (1, 1):
                _input_gradient(x4[i].reshape(c, -1), gz[i].reshape(c, -1),
                                *coefficients, gx[i].reshape(c, -1))
            else:
                _pooled_input_gradient(x4[i], gz[i], self.offsets[i],
                                       window[0], window[1], *coefficients,
                                       gx[i])

        for_each_clip(clip_gradient, n)
        return gx.reshape(x.shape), sum_g, sum_gx

    # -- statistics along another axis: plain NumPy, no pooling -------------

    def _param_shape(self, ndim):
        shape = [1] * ndim
        shape[self.axis] = -1
        return shape

    def _reduced_axes(self, ndim):
        return tuple(i for i in range(ndim) if i != self.axis
                     and not (self.spec.per_clip and i == 0))

    def _forward_any_axis(self, x, gamma, beta):
        self.dtype = x.dtype
        axes = self._reduced_axes(x.ndim)
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        self.count = x.size // mean.size
        self._update(mean, var)
        shape = self._param_shape(x.ndim)
        scale, shift = self._affine(gamma.reshape(shape),
                                    beta.reshape(shape), mean, var)
        out = x * scale.astype(x.dtype) + shift.astype(x.dtype)
        return _activate_(out, self.activation)

    def _backward_any_axis(self, x, gamma, gz):
        axes = self._reduced_axes(x.ndim)
        sum_g = gz.sum(axis=axes, keepdims=True, dtype=np.float64)
        sum_gx = (gz * (x - self.mean)).sum(axis=axes, keepdims=True)
        a, b, c = self._backward_coefficients(
            gamma.reshape(self._param_shape(x.ndim)).astype(np.float64),
            sum_g, sum_gx, x.dtype)
        return a * gz + b + c * x, sum_g, sum_gx


def batch_norm_activation_pool(x, spec, axis=1, activation=None, pool=None,
                               consume_input=False):
    """``pool(activation(BN(x)))`` with batch statistics, differentiable,
    on NumPy arrays (see :class:`BatchNormActivationPool`)."""
    return BatchNormActivationPool(spec, axis, activation, pool,
                                   consume_input).apply(
        (x, spec.gamma, spec.beta))[0]
