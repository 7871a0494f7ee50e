"""Keras-1 ``BatchNormalization`` as a Chainer link.

Keras 1 changed what its ``running_std`` weight holds, and its default
epsilon, between releases.  The published weight files were written by
different Keras versions, so the link must be told which one wrote them:

``running_std_is='std'`` (Keras 1.0.0 to 1.0.6)
    ``running_std`` holds a standard deviation, ``sqrt(var + eps)``, and the
    layer computes ``(x - mean) / (std + eps) * gamma + beta`` with
    ``eps = 1e-6`` (momentum 0.9).
``running_std_is='variance'`` (Keras 1.0.8 to 1.1.2)
    Despite its name ``running_std`` holds a variance, and the layer computes
    ``(x - mean) / sqrt(var + eps) * gamma + beta`` with ``eps = 1e-5``
    (momentum 0.99).  Keras 1.2 raised the default epsilon to 1e-3 (pass
    ``eps=1e-3`` for files it wrote); Keras 1.0.7 divided by
    ``sqrt(var) + 1e-6``.  The registered files of this kind (jsalbert's
    GTZAN CRNN: Keras 1.1.0; Choi's CRNN, whose published scores predate
    Keras 1.2) ran with 1e-5.

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
import chainer
import chainer.functions as F
from chainer import initializers

from chainer_tagger.functions import batch_norm_affine, global_moments

#: (eps, momentum) that Keras used by default for each running_std meaning.
KERAS_DEFAULTS = {'std': (1e-6, 0.9), 'variance': (1e-5, 0.99)}


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
    running_std_is : {'variance', 'std'}
        What the stored ``running_std`` means (see module docstring).
    eps, momentum : float, optional
        Default to what the Keras version implied by ``running_std_is`` used.
    per_clip : bool
        With ``mode=2``, take statistics per clip instead of per batch.
    """

    def __init__(self, size, axis=1, mode=0, running_std_is='variance',
                 eps=None, momentum=None, per_clip=False):
        super().__init__()
        if mode not in (0, 2):
            raise ValueError('Keras BatchNormalization mode must be 0 or 2, '
                             'got {!r}'.format(mode))
        if running_std_is not in KERAS_DEFAULTS:
            raise ValueError("running_std_is must be 'variance' or 'std', "
                             'got {!r}'.format(running_std_is))
        default_eps, default_momentum = KERAS_DEFAULTS[running_std_is]
        self.size = size
        self.axis = axis
        self.mode = mode
        self.running_std_is = running_std_is
        self.eps = default_eps if eps is None else eps
        self.momentum = default_momentum if momentum is None else momentum
        self.per_clip = per_clip
        #: A ChainerMN communicator: batch statistics over all processes
        #: (set by
        #: :func:`chainer_tagger.training.distributed.make_batch_norm_global`).
        self.comm = None
        with self.init_scope():
            self.gamma = chainer.Parameter(initializers.One(), (size,))
            self.beta = chainer.Parameter(initializers.Zero(), (size,))
        self.add_persistent('running_mean', self.xp.zeros(size, 'f'))
        self.add_persistent('running_std', self.xp.ones(size, 'f'))

    def _running_denominator(self):
        """Divisor of ``x - running_mean`` at inference."""
        if self.running_std_is == 'std':
            return self.running_std + self.eps
        return self.xp.sqrt(self.running_std + self.eps)

    @property
    def uses_batch_statistics(self):
        """Whether the layer normalizes with the batch's statistics now
        (mode 2 always; mode 0 while training)."""
        return self.mode == 2 or bool(chainer.config.train)

    def inference_affine(self):
        """``(scale, shift)``: mode-0 inference is ``x * scale + shift``
        per entry of the normalized axis (arrays, no graph)."""
        return batch_norm_affine(self.gamma.array, self.beta.array,
                                 self.running_mean,
                                 self._running_denominator())

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
        if self.comm is not None and not self.per_clip:
            mean, centered, var = global_moments(x, reduce_axes, self.comm)
        else:
            mean = F.mean(x, axis=reduce_axes, keepdims=True)
            centered = x - F.broadcast_to(mean, x.shape)
            var = F.mean(F.square(centered), axis=reduce_axes,
                         keepdims=True)
        if self.running_std_is == 'std':
            # Keras 1.0.x: std = sqrt(mean((x - m)^2 + eps)); x / (std + eps)
            spread = F.sqrt(var + self.eps)
            denom = spread + self.eps
        else:
            spread = var
            denom = F.sqrt(var + self.eps)
        normed = centered / F.broadcast_to(denom, x.shape)
        if self.mode == 0 and chainer.config.train:
            self._update_running(mean.array, spread.array)
        shape = [1] * x.ndim
        shape[self.axis] = self.size
        gamma = F.broadcast_to(F.reshape(self.gamma, shape), x.shape)
        beta = F.broadcast_to(F.reshape(self.beta, shape), x.shape)
        return normed * gamma + beta

    def _update_running(self, mean, spread):
        m = self.momentum
        self.running_mean[...] = (
            m * self.running_mean + (1 - m) * mean.reshape(-1))
        self.running_std[...] = (
            m * self.running_std + (1 - m) * spread.reshape(-1))
