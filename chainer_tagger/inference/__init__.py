"""Using a model: tagging files and whole songs, embeddings, taggrams,
reports, ONNX export."""
from chainer_tagger.inference.embedding import (  # NOQA
    embed_dataset, embed_files)
from chainer_tagger.inference.tagging import tag, tag_windows  # NOQA
