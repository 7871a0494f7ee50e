"""Chainer links with Keras-1 semantics and the models built from them."""
from chainer_tagger.links.keras_batch_normalization import (  # NOQA
    KerasBatchNormalization)
from chainer_tagger.links.keras_conv_block import KerasConvBlock  # NOQA
from chainer_tagger.links.keras_gru import KerasGRU  # NOQA
