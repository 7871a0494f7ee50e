"""The convolution block shared by Choi's taggers."""
import chainer
import chainer.links as L

from chainer_tagger.functions import conv_bn_elu_pool_2d, dropout
from chainer_tagger.links.keras_batch_normalization import (
    KerasBatchNormalization)


class KerasConvBlock(chainer.Chain):
    """3x3 'same' convolution, Keras BN over channels, ELU, max pooling.

    Keras' ``Dropout`` after the pooling is applied with ``dropout`` (only
    while training, as in Keras).  Pooling drops a ragged border, like
    Keras/Theano's ``ignore_border=True``.

    Parameters
    ----------
    in_channels, out_channels : int
    pool : tuple of int
        Pooling window, also the stride.
    dropout : float
    bn_mode, keras, per_clip, running_std_is
        Passed to :class:`KerasBatchNormalization` (its ``mode``, ``keras``,
        ``per_clip`` and ``running_std_is``).
    """

    def __init__(self, in_channels, out_channels, pool, dropout=0.0,
                 bn_mode=0, keras='1.1-theano', per_clip=False,
                 running_std_is=None):
        super().__init__()
        self.pool = tuple(pool)
        self.dropout = dropout
        with self.init_scope():
            self.conv = L.Convolution2D(in_channels, out_channels, 3, pad=1)
            self.bn = KerasBatchNormalization(
                out_channels, axis=1, mode=bn_mode, keras=keras,
                per_clip=per_clip, running_std_is=running_std_is)

    def forward(self, x):
        if self.bn.uses_batch_statistics:
            affine, batch = None, self.bn.batch_statistics()
        else:
            affine, batch = self.bn.inference_affine(), None
        h = conv_bn_elu_pool_2d(x, self.conv.W, self.conv.b, self.pool,
                                self.bn, affine, batch)
        if self.dropout:
            h = dropout(h, self.dropout)
        return h
