"""Library mode: tagging a whole music library, resumable and on several
processes, with the tags written into the files.  The runner
(:mod:`~chainer_tagger.library.runner`) ties together the store
(:mod:`~chainer_tagger.library.store`), what identifies a file between runs
(:mod:`~chainer_tagger.library.file_identity`) and tag writing
(:mod:`~chainer_tagger.library.file_tags`); the tagging itself is
:mod:`chainer_tagger.inference`'s."""
from chainer_tagger.library.runner import LibraryRun, tag_library  # NOQA
