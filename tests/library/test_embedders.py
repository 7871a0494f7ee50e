"""Embedding files: read ahead on the threads asked for, across batches."""
import numpy as np
import pytest

from chainer_tagger.library import embedders
from chainer_tagger.library.embedders import embedder
from chainer_tagger.library.runner import LibraryRun

from library_fixture import make_library, make_tiny_model


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


@pytest.fixture
def prefetches(monkeypatch):
    """``(files, workers, depth)`` of each read-ahead the embedders start."""
    calls, real = [], embedders.prefetch

    def spy(function, items, workers, depth):
        items = list(items)
        calls.append((len(items), workers, depth))
        return real(function, items, workers, depth)
    monkeypatch.setattr(embedders, 'prefetch', spy)
    return calls


def test_embed_reads_ahead_on_the_workers_asked_for(tmp_path, model_file,
                                                    prefetches):
    files = make_library(tmp_path / 'lib', 5)
    model = embedder(str(model_file))
    batches = list(model.embed_batches(files, batch_size=2, workers=3))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert prefetches == [(5, 3, 5)]
    flat = model.embed(files, batch_size=2, workers=1)
    assert prefetches[-1] == (5, 1, 3)
    for (got, error), (want, _) in zip(flat, [d for b in batches for d in b]):
        assert error is None
        np.testing.assert_array_equal(got, want)


def test_the_library_embedding_pass_reads_ahead_across_batches(
        tmp_path, model_file, prefetches):
    """Files whose tags are current are embedded in a pass of their own,
    committed a batch at a time: one read-ahead for all of them (one per
    batch drained the threads at every batch)."""
    make_library(tmp_path / 'lib', 7)
    db = tmp_path / 'lib.db'
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    batch_size=3) as run:
        assert run.tag().embedded == 0
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    batch_size=3, workers=2,
                    embed_model=str(model_file)) as run:
        assert run.tag().embedded == 7
    assert prefetches == [(7, 2, 5)]
