"""SoundNet (Aytar, Vondrick & Torralba, 2016): 8-layer 1-D conv net."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.links.clip_parallel import for_each_clip

#: Input sampling rate.
SR = 22050
#: SoundNet's input scaling: samples in [-1, 1] times 256.
INPUT_SCALE = 256.0

#: (name, in, out, kernel, stride, pad, max pooling after ReLU)
LAYERS = (
    ('conv1', 1, 16, 64, 2, 32, 8),
    ('conv2', 16, 32, 32, 2, 16, 8),
    ('conv3', 32, 64, 16, 2, 8, None),
    ('conv4', 64, 128, 8, 2, 4, None),
    ('conv5', 128, 256, 4, 2, 2, 4),
    ('conv6', 256, 512, 4, 2, 2, None),
    ('conv7', 512, 1024, 4, 2, 2, None),
)
N_OBJECTS = 1000
N_SCENES = 401


class SoundNet8(chainer.Chain):
    """SoundNet-8 on raw 22,050 Hz audio.

    Seven conv layers (each followed by batch normalization with eps 1e-5
    and ReLU; max pooling after conv1, conv2 and conv5), then two heads of
    kernel 8 and stride 2: ``conv8`` (1000 ImageNet objects) and
    ``conv8_2`` (401 Places2 scenes).

    Inputs are ``(N, T)`` or ``(N, 1, T)`` waveforms in [-1, 1]; they are
    scaled by 256 as SoundNet expects.

    Parameters
    ----------
    pretrained_model : str, optional
        ``'soundnet8'`` (converted from the published ``sound8.npy``) or a
        converted ``.npz``.
    """

    arch = 'soundnet'

    def __init__(self, pretrained_model=None):
        super().__init__()
        self.settings = {}
        with self.init_scope():
            for name, cin, cout, k, s, p, _ in LAYERS:
                setattr(self, name, L.ConvolutionND(1, cin, cout, k, s, p))
                setattr(self, 'bn' + name[4:],
                        L.BatchNormalization(cout, eps=1e-5))
            self.conv8 = L.ConvolutionND(1, 1024, N_OBJECTS, 8, 2, 0)
            self.conv8_2 = L.ConvolutionND(1, 1024, N_SCENES, 8, 2, 0)
        if pretrained_model is not None:
            from chainer_tagger import pretrained
            path, _ = pretrained.prepare(pretrained_model, self.arch)
            pretrained.load_weights(path, self)

    def body(self, x):
        """conv1..conv7 features, ``(N, 1024, steps)``."""
        array = x.array if isinstance(x, chainer.Variable) else x
        if (isinstance(array, np.ndarray) and not chainer.config.train
                and not chainer.config.enable_backprop):
            return chainer.Variable(self._body_cpu(array))
        if x.ndim == 2:
            x = F.expand_dims(x, 1)
        h = x * INPUT_SCALE
        for name, _, _, _, _, _, pool in LAYERS:
            h = F.relu(self['bn' + name[4:]](self[name](h)))
            if pool:
                h = F.max_pooling_nd(h, pool, pool, cover_all=False)
        return h

    def _body_cpu(self, x):
        """:meth:`body` on NumPy arrays, for inference without a graph.

        Each layer's BN is folded into its kernel; each clip's convolution
        is a GEMM of the kernel with strided windows of the input, taken in
        cache-sized chunks; max pooling comes before the bias and the ReLU
        (both monotonic, so the result is identical), and clips run one per
        core.  Equal to the graph path up to float rounding.
        """
        x = np.asarray(x, np.float32).reshape(len(x), 1, -1) * INPUT_SCALE
        for name, cin, cout, k, s, p, pool in LAYERS:
            conv, bn = self[name], self['bn' + name[4:]]
            scale = bn.gamma.array / np.sqrt(bn.avg_var + bn.eps)
            kernel = (conv.W.array * scale[:, None, None]).reshape(cout, -1)
            bias = ((conv.b.array - bn.avg_mean) * scale +
                    bn.beta.array)[:, None].astype(np.float32)
            n_out = (x.shape[2] + 2 * p - k) // s + 1
            pool = pool or 1
            keep = n_out // pool * pool
            out = np.empty((len(x), cout, keep // pool), np.float32)
            chunk = pool * max(1, (1 << 20) // (cin * k * pool))

            def one_clip(i, x=x, kernel=kernel, bias=bias, out=out, k=k,
                         s=s, p=p, pool=pool, keep=keep, chunk=chunk):
                padded = np.pad(x[i], ((0, 0), (p, p)))
                rows = padded.strides[0]
                for t0 in range(0, keep, chunk):
                    t1 = min(keep, t0 + chunk)
                    windows = np.lib.stride_tricks.as_strided(
                        padded[:, t0 * s:], shape=(padded.shape[0], k,
                                                   t1 - t0),
                        strides=(rows, 4, 4 * s), writeable=False)
                    y = kernel @ np.ascontiguousarray(windows).reshape(
                        -1, t1 - t0)
                    if pool > 1:
                        y = y.reshape(len(y), -1, pool).max(axis=2)
                    y += bias
                    np.maximum(y, 0, out=y)
                    out[i, :, t0 // pool:t1 // pool] = y
            for_each_clip(one_clip, len(x))
            x = out
        return x

    def forward(self, x):
        """``(objects, scenes)`` logits of shapes ``(N, 1000, steps)`` and
        ``(N, 401, steps)``."""
        h = self.body(x)
        return self.conv8(h), self.conv8_2(h)

    def scenes(self, x):
        return self.conv8_2(self.body(x))
