"""Pretrained weights: the registry (find, verify, download, cache), the
converters of the upstream formats (Keras-1 ``.h5``, SoundNet's
``sound8.npy``) and the chainer-tagger ``.npz`` model file.

Nothing here imports the models: callers pass the model classes in.
"""
from chainer_tagger.pretrained import registry  # NOQA
from chainer_tagger.pretrained.model_file import (  # NOQA
    read_model_meta, save_model_npz)
