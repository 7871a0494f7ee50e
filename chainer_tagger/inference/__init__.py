"""Using a model: tagging files and whole songs, whole libraries (a
resumable store, MPI, tags written into the files), embeddings, taggrams,
reports, ONNX export."""
from chainer_tagger.inference.embedding import (  # NOQA
    embed_dataset, embed_files)
from chainer_tagger.inference.tagging import tag, tag_windows  # NOQA
from chainer_tagger.inference.library import LibraryRun, tag_library  # NOQA
