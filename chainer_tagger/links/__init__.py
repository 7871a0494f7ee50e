"""Chainer links with Keras-1 semantics (the layers of Choi's taggers)."""
from chainer_tagger.links.keras_batch_normalization import (  # NOQA
    KerasBatchNormalization)
from chainer_tagger.links.keras_conv_block import KerasConvBlock  # NOQA
from chainer_tagger.links.keras_gru import KerasGRU  # NOQA
