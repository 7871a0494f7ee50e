"""SoundNet (Aytar, Vondrick & Torralba, 2016): 8-layer 1-D conv net."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.audio.windows import fit_to_window
from chainer_tagger.configuration import (
    N_OBJECTS, N_SCENES, SOUNDNET_BN_EPS, SOUNDNET_HEAD_KERNEL,
    SOUNDNET_HEAD_STRIDE, SOUNDNET_INPUT_SCALE, SOUNDNET_LAYERS,
    WAVEFORM_INPUT)
from chainer_tagger.functions import (
    BatchNormSpec, batch_norm_affine, conv_bn_relu_pool_1d, strided_conv_1d)
from chainer_tagger.functions.kernel_choice import host_only
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.pretrained import registry


def soundnet_steps(n_samples):
    """Output steps of SoundNet's conv8 heads for an input length."""
    n = n_samples
    for layer in SOUNDNET_LAYERS:
        n = (n + 2 * layer.pad - layer.kernel) // layer.stride + 1
        if layer.pool:
            n //= layer.pool
    return (n - SOUNDNET_HEAD_KERNEL) // SOUNDNET_HEAD_STRIDE + 1


def batch_statistics(bn):
    """A Chainer :class:`~chainer.links.BatchNormalization` in training as
    a :class:`~chainer_tagger.functions.BatchNormSpec` for the fused CPU
    kernels, with Chainer's running averages (decay, unbiased variance);
    None for another normalization (ChainerMN's global one, in
    distributed runs), which runs as itself."""
    if type(bn) is not L.BatchNormalization:
        return None

    def update(mean, var, count):
        decay = bn.decay
        bn.avg_mean *= decay
        bn.avg_mean += (1 - decay) * mean
        bn.avg_var *= decay
        bn.avg_var += (1 - decay) * count / max(count - 1., 1.) * var

    @host_only
    def divisor(var):
        root = np.sqrt(var + bn.eps)
        return root, 0.5 / root
    return BatchNormSpec(bn.gamma, bn.beta, divisor, False, update)


@host_only
def as_waveform_batch(waveforms, n_samples=WAVEFORM_INPUT.n_samples):
    """Waveforms (a sequence of 1-D arrays, or ``(N, T)``) centre-cropped or
    zero-padded to ``n_samples``, as a float32 ``(N, n_samples)`` batch."""
    return np.stack([fit_to_window(np.asarray(w, np.float32), n_samples)
                     .astype(np.float32) for w in waveforms])


class SoundNet8(chainer.Chain):
    """SoundNet-8 on raw 22,050 Hz audio.

    Seven conv layers (each followed by batch normalization with eps 1e-5
    and ReLU; max pooling after conv1, conv2 and conv5), then two heads of
    kernel 8 and stride 2: ``conv8`` (1000 ImageNet objects) and
    ``conv8_2`` (401 Places2 scenes).

    Inputs are ``(N, T)`` or ``(N, 1, T)`` waveforms in [-1, 1]; they are
    scaled by 256 as SoundNet expects.  It has no classifier of its own
    (``tags`` is None); :meth:`extract` gives the flattened scene output as
    a feature vector.

    Parameters
    ----------
    pretrained_model : str, optional
        ``'soundnet8'`` (converted from the published ``sound8.npy``) or a
        converted ``.npz``.
    """

    arch = 'soundnet'
    clip_input = WAVEFORM_INPUT
    tags = None
    exclusive_classes = False
    #: Inference-mode BN: a clip's outputs never depend on its batch.
    batch_dependent = False
    model_name = None
    #: sha256 of the weights it was loaded from (set by ``load_model``).
    weights_sha256 = None
    settings_types = {}
    #: The CPU kernels of its 1-D convolutions are float32 only.
    precisions = ('float32',)

    def __init__(self, pretrained_model=None):
        super().__init__()
        self.settings = {}
        with self.init_scope():
            for layer in SOUNDNET_LAYERS:
                setattr(self, layer.name, L.ConvolutionND(
                    1, layer.in_channels, layer.out_channels, layer.kernel,
                    layer.stride, layer.pad))
                setattr(self, 'bn' + layer.name[4:], L.BatchNormalization(
                    layer.out_channels, eps=SOUNDNET_BN_EPS))
            for name, size in (('conv8', N_OBJECTS), ('conv8_2', N_SCENES)):
                setattr(self, name, L.ConvolutionND(
                    1, SOUNDNET_LAYERS[-1].out_channels, size,
                    SOUNDNET_HEAD_KERNEL, SOUNDNET_HEAD_STRIDE, 0))
        if pretrained_model is not None:
            path, _ = registry.prepare(pretrained_model,
                                       {self.arch: type(self)}, self.arch)
            registry.load_weights(path, self)

    @property
    def feature_size(self):
        return N_SCENES * soundnet_steps(self.clip_input.n_samples)

    def body(self, x):
        """conv1..conv7 features, ``(N, 1024, steps)``."""
        if x.ndim == 2:
            x = F.expand_dims(x, 1)
        h = x * SOUNDNET_INPUT_SCALE
        inference = not chainer.config.train
        for layer in SOUNDNET_LAYERS:
            conv, bn = self[layer.name], self['bn' + layer.name[4:]]
            if inference:
                affine, batch = batch_norm_affine(
                    bn.gamma.array, bn.beta.array, bn.avg_mean,
                    bn.xp.sqrt(bn.avg_var + bn.eps)), None
            else:
                affine, batch = None, batch_statistics(bn)
            h = conv_bn_relu_pool_1d(h, conv.W, conv.b, layer.stride,
                                     layer.pad, layer.pool, bn, affine,
                                     batch)
        return h

    def forward(self, x):
        """``(objects, scenes)`` logits of shapes ``(N, 1000, steps)`` and
        ``(N, 401, steps)``."""
        h = self.body(x)
        return self.head(self.conv8, h), self.head(self.conv8_2, h)

    def scenes(self, x):
        """The ``conv8_2`` output, ``(N, 401, steps)``."""
        return self.head(self.conv8_2, self.body(x))

    @staticmethod
    def head(conv, h):
        """One of the heads (``conv8``, ``conv8_2``) on conv7's output."""
        return strided_conv_1d(h, conv.W, conv.b, SOUNDNET_HEAD_STRIDE, 0)

    def embed(self, x):
        """The flattened scene output per clip, ``(N, 401 * steps)``."""
        h = self.scenes(x)
        return F.reshape(h, (h.shape[0], -1))

    features = embed

    def extract(self, waveforms, batch_size=8):
        """Flattened scene outputs of 22,050 Hz waveforms in [-1, 1]."""
        return run_in_batches(self, self.embed, waveforms, batch_size,
                              as_waveform_batch)
