"""A model applied to files: tagging files and whole songs, embeddings,
taggrams, reports, ONNX export.  Whole libraries (a resumable store, MPI,
tags written into the files) are :mod:`chainer_tagger.library`'s."""
from chainer_tagger.inference.embedding import (  # NOQA
    embed_dataset, embed_files)
from chainer_tagger.inference.tagging import tag, tag_windows  # NOQA
