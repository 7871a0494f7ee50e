""""More like this": embeddings stored by library runs, the neighbours
pinned to a brute-force float64 computation written here, the formats of
``similar``, the query left out, unknown and changed files, migration of
a schema-1 store, and an index that is never stale."""
import contextlib
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import InputError, LibraryStoreError
from chainer_tagger.inference import embed_files
from chainer_tagger.library.file_identity import FileIdentity, path_key
from chainer_tagger.library.runner import LibraryRun
from chainer_tagger.library.similarity import (LibrarySimilarity,
                                               SimilarityIndex, render,
                                               similar, similar_to_stored)
from chainer_tagger.library.store import (LibraryStore, ModelIdentity,
                                          expected_tables)
from chainer_tagger.models import load_model

from conftest import AUDIO
from library_fixture import (make_library, make_tiny_model, old_store,
                             write_clip)

N = 8


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


@pytest.fixture(scope='module')
def library(tmp_path_factory, model_file):
    """A library of N files tagged and embedded by the tiny model."""
    root = tmp_path_factory.mktemp('similar')
    files = make_library(root / 'lib', N)
    db = root / 'lib.db'
    with LibraryRun([root / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        summary = run.tag()
    assert summary.embedded == N
    return root, files, db


def stored_vectors(db):
    """``{path: float64 vector}`` read from the database directly."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute('SELECT files.path, vector FROM embeddings JOIN '
                            'files ON files.id = file_id').fetchall()
    return {bytes(p).decode(): np.frombuffer(v, '<f4').astype(np.float64)
            for p, v in rows}


def brute_force(library, query, k, leave_out=None, weights=None):
    """The k best (path, cosine) of ``query`` among ``library`` ({path:
    vector}) after standardising with the library's mean and population
    standard deviation, in float64 (no projection: with fewer files than
    axes the index's projection keeps every stored vector whole).  As
    documented, a dimension that varies less than 1e-5 of its level (or
    1e-6 of the largest spread) is constant and left out."""
    paths = sorted(library)
    x = np.array([library[p] for p in paths])
    mean, std = x.mean(axis=0), x.std(axis=0)
    keep = (std > 1e-5 * np.abs(mean)) & (std > 1e-6 * std.max())
    x, query, mean, std = x[:, keep], query[keep], mean[keep], std[keep]
    if weights is not None:
        std = std * weights[keep]
    z = (x - mean) / std
    q = (query - mean) / std
    # The part of the query in the library's span (of rank n - 1, as the
    # rows are centred): what the index keeps.
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    basis = vt[s > 1e-8 * s.max()].T
    q = basis @ (basis.T @ q)
    sims = z @ q / (np.linalg.norm(z, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(paths)), key=lambda i: -sims[i])
    return [(paths[i], sims[i]) for i in order if paths[i] != leave_out][:k]



def copy_store(src, dst):
    """A copy of the store ``src`` at ``dst`` (SQLite's backup: its
    token and generation too)."""
    with contextlib.closing(sqlite3.connect(src)) as a, \
            contextlib.closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def add_twin(db, file_id=1, path=b'/elsewhere/twin.wav'):
    """Store, as another connection (a library run) would, a file at
    ``path`` whose vector is that of ``file_id``; returns that vector's
    bytes and its model id."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        vector, model_id = conn.execute(
            'SELECT vector, model_id FROM embeddings WHERE file_id = ?',
            (file_id,)).fetchone()
    with LibraryStore(db) as store:
        store.put_embeddings(model_id, [
            (path, FileIdentity(1, 2, None), vector)])
    return vector, model_id


def test_each_files_embedding_is_stored_once_and_resumes(library,
                                                         model_file):
    root, files, db = library
    vectors = stored_vectors(db)
    assert sorted(vectors) == sorted(str(f) for f in files)
    # The vectors are the model's features of each file's centre window.
    features, index = embed_files(load_model(str(model_file)), files)
    for row in index:
        np.testing.assert_allclose(vectors[row['path']],
                                   features[row['row']], rtol=1e-6)
    # A second run embeds nothing.
    with LibraryRun([root / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        assert run.tag().embedded == 0


def test_neighbours_of_stored_files_match_brute_force(library):
    root, files, db = library
    vectors = stored_vectors(db)
    answers = similar(files, db, k=3)
    assert [a['path'] for a in answers] == [str(f) for f in files]
    for a in answers:
        expected = brute_force(vectors, vectors[a['path']], 3,
                               leave_out=a['path'])
        assert [n['path'] for n in a['neighbours']] == \
            [p for p, _ in expected]
        np.testing.assert_allclose([n['similarity'] for n in a['neighbours']],
                                   [s for _, s in expected], atol=1e-5)
        assert a['path'] not in [n['path'] for n in a['neighbours']]


def test_k_larger_than_the_library_lists_every_other_file(library):
    root, files, db = library
    answer, = similar([files[0]], db, k=50)
    assert len(answer['neighbours']) == N - 1


def test_an_unknown_file_is_embedded_on_the_fly(library, model_file,
                                                tmp_path):
    root, files, db = library
    new = write_clip(tmp_path / 'new.wav', 1000)
    answer, = similar([new], db, k=N, embed_model=str(model_file))
    features, _ = embed_files(load_model(str(model_file)), [new])
    expected = brute_force(stored_vectors(db), features[0].astype(
        np.float64), N)
    assert [n['path'] for n in answer['neighbours']] == \
        [p for p, _ in expected]
    np.testing.assert_allclose([n['similarity'] for n in answer['neighbours']],
                               [s for _, s in expected], atol=1e-5)
    # Nothing was written: the store still has N embeddings.
    assert len(stored_vectors(db)) == N


def test_a_missing_file_is_an_error_in_its_answer(library, tmp_path):
    root, files, db = library
    missing, found = similar([tmp_path / 'gone.wav', files[1]], db, k=2)
    assert 'error' in missing and 'neighbours' not in missing
    assert len(found['neighbours']) == 2


def test_formats(library, tmp_path, capsys):
    root, files, db = library
    args = ['similar', str(files[0]), str(files[2]), '--db', str(db), '-k',
            '2']
    assert main(args + ['-f', 'json']) == 0
    out = json.loads(capsys.readouterr().out)
    expected = similar([files[0], files[2]], db, k=2)
    assert out == [{'path': a['path'], 'neighbours': [
        {'path': n['path'], 'similarity': n['similarity']}
        for n in a['neighbours']]} for a in expected]
    assert [sorted(o) for o in out] == [['neighbours', 'path']] * 2
    assert main(args + ['-f', 'csv']) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ['query', 'rank', 'path', 'similarity']
    assert [r[:3] for r in rows[1:]] == [
        [a['path'], str(i), n['path']] for a in expected
        for i, n in enumerate(a['neighbours'], 1)]
    assert [float(r[3]) for r in rows[1:]] == pytest.approx(
        [n['similarity'] for a in expected for n in a['neighbours']],
        abs=1e-6)
    assert main(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == str(files[0])
    assert table[1].split()[-1] == expected[0]['neighbours'][0]['path']
    # A failed query: its error in JSON, exit status 1.
    assert main(['similar', str(tmp_path / 'gone.wav'), '--db', str(db),
                 '-f', 'json']) == 1
    gone, = json.loads(capsys.readouterr().out)
    assert sorted(gone) == ['error', 'path']


def test_similar_needs_an_existing_store_with_those_embeddings(
        library, tmp_path, capsys):
    root, files, db = library
    assert main(['similar', str(files[0]), '--db',
                 str(tmp_path / 'none.db')]) == 2
    assert 'no library store there' in capsys.readouterr().err
    assert not (tmp_path / 'none.db').exists()
    assert main(['similar', str(files[0]), '--db', str(db),
                 '--embed-model', 'crnn-msd']) == 2
    assert 'no embeddings by crnn-msd' in capsys.readouterr().err


def test_similar_to_stored_takes_and_gives_file_ids(library):
    root, files, db = library
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ids = {bytes(p).decode(): i for i, p in
               conn.execute('SELECT id, path FROM files')}
    query = str(files[3])
    answer = similar_to_stored(db, ids[query], k=3)
    expected = similar([files[3]], db, k=3)[0]['neighbours']
    assert answer == [{'file_id': ids[n['path']], 'path': n['path'],
                       'similarity': pytest.approx(n['similarity'])}
                      for n in expected]
    assert all(type(a['file_id']) is int and type(a['similarity']) is float
               for a in answer)
    with pytest.raises(InputError, match='no stored embedding'):
        similar_to_stored(db, 10 ** 6)


def test_stores_kept_open_by_similar_to_stored_close_at_exit(library):
    """``similar_to_stored`` keeps each store open between calls (the web
    page asks it once per track page); at interpreter exit they are
    closed, and a later call opens the store again."""
    from chainer_tagger.library import similarity
    root, files, db = library
    first = similar_to_stored(db, 1, k=2)
    [kept] = [lib for lib in similarity._OPEN.values()
              if lib.store.path == os.fspath(db)] or [None]
    assert kept is not None
    similarity._close_cached()
    assert similarity._OPEN == {}
    with pytest.raises(sqlite3.ProgrammingError, match='closed'):
        kept.store.embedding_models()
    assert similar_to_stored(db, 1, k=2) == first
    # And a process that used it closes it when it exits.
    code = ('import sys\n'
            'from chainer_tagger.library import similarity as s\n'
            'close = s._ThreadSafeLibrary.close\n'
            's._ThreadSafeLibrary.close = lambda self: (print("closed"), '
            'close(self))\n'
            's.similar_to_stored(sys.argv[1], 1, k=2)\n')
    done = subprocess.run([sys.executable, '-c', code, str(db)],
                          capture_output=True, text=True, check=True)
    assert done.stdout == 'closed\n'


def test_the_index_is_rebuilt_when_the_store_changes(library, tmp_path,
                                                     model_file):
    root, files, db = library
    copy = tmp_path / 'copy.db'
    copy_store(db, copy)
    with LibrarySimilarity(copy) as lib:
        first = lib.to_stored(1, k=N)
        assert len(first) == N - 1
        old = lib.index()
        # Another connection (a library run) adds a file whose vector is
        # file 1's: it must be file 1's best neighbour at once.
        vector, model_id = add_twin(copy)
        second = lib.to_stored(1, k=N)
        assert lib.index() is not old
        assert second[0]['path'] == '/elsewhere/twin.wav'
        assert second[0]['similarity'] == pytest.approx(1.0, abs=1e-6)
        assert len(second) == N
        # No change: the same index is kept.
        assert lib.index() is lib.index()
    # The cached index of similar_to_stored is never stale either.
    assert similar_to_stored(copy, 1, k=1)[0]['path'] == '/elsewhere/twin.wav'
    with LibraryStore(copy) as store:
        store.put_embeddings(model_id, [
            (b'/elsewhere/twin.wav', FileIdentity(1, 3, None),
             np.zeros(len(vector) // 4, '<f4').tobytes())])
    assert similar_to_stored(copy, 1, k=1)[0]['path'] != \
        '/elsewhere/twin.wav'


def test_a_store_replaced_at_the_same_path_is_read_anew(library, tmp_path):
    # The cache of similar_to_stored once kept its connection to the
    # removed file and went on answering with files no longer stored.
    root, files, db = library
    path = tmp_path / 'replaced.db'
    copy_store(db, path)
    assert len(similar_to_stored(path, 1, k=N)) == N - 1
    os.remove(path)
    copy_store(db, path)
    add_twin(path)
    assert similar_to_stored(path, 1, k=1)[0]['path'] == '/elsewhere/twin.wav'


def test_the_saved_index_is_used_only_for_the_same_database_and_state(
        library, tmp_path, monkeypatch):
    from chainer_tagger.library import similarity as module
    root, files, db = library
    copy = tmp_path / 'copy.db'
    copy_store(db, copy)
    with LibrarySimilarity(copy) as lib:
        first = lib.to_stored(2, k=3)
        saved = '{}.similarity-{}.npz'.format(copy, lib.model_id)
    assert (tmp_path / saved).exists()
    built = []
    read = module.read_index
    monkeypatch.setattr(module, 'read_index',
                        lambda *a: built.append(1) or read(*a))
    # Unchanged: loaded, not rebuilt, and the same answer.
    with LibrarySimilarity(copy) as lib:
        assert lib.to_stored(2, k=3) == first
    assert built == []
    # Changed by another process: rebuilt (and saved again).
    vector, model_id = add_twin(copy, 2, b'/x/twin.wav')
    with LibrarySimilarity(copy) as lib:
        assert lib.to_stored(2, k=1)[0]['path'] == '/x/twin.wav'
    assert built == [1]
    # Another copy of the same database (same token), changed apart as
    # many times, put at that path (nothing holding it open): not served
    # the saved index, as each change draws a new random stamp.
    copy.unlink()
    copy_store(db, copy)
    with LibraryStore(copy) as store:
        store.put_embeddings(model_id, [
            (b'/y/twin.wav', FileIdentity(1, 2, None), vector)])
    with LibrarySimilarity(copy) as lib:
        assert lib.to_stored(2, k=1)[0]['path'] == '/y/twin.wav'
    assert built == [1, 1]


def test_a_changed_file_is_embedded_again_and_left_out_of_its_answer(
        tmp_path, model_file):
    files = make_library(tmp_path / 'lib', 5)
    db = tmp_path / 'lib.db'
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        run.tag()
    before = stored_vectors(db)[str(files[0])]
    write_clip(files[0], 777, seconds=1.5)  # new audio, new size
    answer, = similar([files[0]], db, k=10,
                      embed_model=str(model_file))  # embedded on the fly
    assert len(answer['neighbours']) == 4
    assert str(files[0]) not in [n['path'] for n in answer['neighbours']]
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        assert run.tag().embedded == 1
    assert not np.array_equal(stored_vectors(db)[str(files[0])], before)


def _pca_reference(x, weights, r):
    """Standardise (weighted), project on the top ``r`` principal axes of
    the whole set (SVD, float64), normalise: rows to compare by dot
    product."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / (std * weights)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    p = z @ vt[:r].T
    return p / np.linalg.norm(p, axis=1, keepdims=True)


@pytest.mark.parametrize('blocks', [None, [30, 10]])
def test_the_index_is_exact_cosine_after_the_projection(blocks):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 40)) @ rng.standard_normal((40, 40))
    x[:, 30:] *= 50  # a block on another scale
    index = SimilarityIndex(np.arange(300) * 3, x.astype(np.float32),
                            dimensions=8, blocks=blocks)
    weights = np.ones(40) if blocks is None else \
        np.r_[np.full(30, np.sqrt(30)), np.full(10, np.sqrt(10))]
    ref = _pca_reference(x, weights, 8)
    for i in (0, 17, 299):
        sims = ref @ ref[i]
        sims[i] = -np.inf
        best = np.argsort(-sims)[:5]
        answer = index.search(x[i:i + 1], 5, [3 * i])[0]
        assert [f for f, _ in answer] == [3 * j for j in best]
        np.testing.assert_allclose([s for _, s in answer], sims[best],
                                   atol=1e-5)


def test_the_search_finds_the_exact_top_k_of_a_large_index():
    # Beyond the sampled-threshold shortcut's size (4 x 8192 rows).
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50000, 12)).astype(np.float32)
    index = SimilarityIndex(np.arange(50000), x, dimensions=12)
    for i in (5, 49999):
        q = index.stored_row(i)[0].astype(np.float64)
        sims = index.columns.T.astype(np.float64) @ q
        sims[i] = -np.inf
        answer = index.search_projected(index.stored_row(i), 10, [i])[0]
        assert [f for f, _ in answer] == list(np.argsort(-sims)[:10])


def test_render_formats():
    answers = [{'path': 'q.mp3', 'neighbours': [
        {'path': 'a,b.mp3', 'similarity': 0.5, 'file_id': 3}]},
        {'path': 'x.mp3', 'error': 'x.mp3: no such file'}]
    assert json.loads(render(answers, 'json')) == [
        {'path': 'q.mp3', 'neighbours': [{'path': 'a,b.mp3',
                                          'similarity': 0.5}]},
        {'path': 'x.mp3', 'error': 'x.mp3: no such file'}]
    assert render(answers, 'csv') == \
        'query,rank,path,similarity\nq.mp3,1,"a,b.mp3",0.500000\n'
    assert render(answers, 'table') == \
        'q.mp3\n   0.500  a,b.mp3\nx.mp3\n  error: x.mp3: no such file\n'


# --- migration -------------------------------------------------------------

def test_a_schema_1_store_is_migrated_and_keeps_its_rows(tmp_path,
                                                         model_file):
    assert LIBRARY_SCHEMA_VERSION == 3
    files = make_library(tmp_path / 'lib', 4)
    db = tmp_path / 'old.db'
    old_store(db, 1).close()
    # Fill it as schema 1 did: a run's rows, written with the v1 tables
    # only (the results are those of the tiny model, stored by today's
    # code into a copy, then moved into the old file row by row).
    scratch = tmp_path / 'scratch.db'
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=scratch) as run:
        run.tag()
    with contextlib.closing(sqlite3.connect(scratch)) as src, \
            contextlib.closing(sqlite3.connect(db)) as dst:
        for table in ('models', 'files', 'results'):
            rows = src.execute('SELECT * FROM {}'.format(table)).fetchall()
            dst.executemany('INSERT INTO {} VALUES ({})'.format(
                table, ','.join('?' * len(rows[0]))), rows)
        dst.commit()
        before = {t: dst.execute('SELECT * FROM {} ORDER BY 1, 2'.format(
            t)).fetchall() for t in ('models', 'files', 'results')}
    with LibraryStore(db):
        pass
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('PRAGMA user_version').fetchone()[0] == 3
        after = {t: conn.execute('SELECT * FROM {} ORDER BY 1, 2'.format(
            t)).fetchall() for t in ('models', 'files', 'results')}
        assert conn.execute("SELECT value FROM generations WHERE name = "
                            "'embeddings'").fetchall() == [(0,)]
    assert after == before
    from chainer_tagger.library.store import _tables, _read_only
    with contextlib.closing(_read_only(db)) as conn:
        assert _tables(conn) == expected_tables()
    # The migrated store serves a run: every result reused, the files
    # embedded (they have no embedding yet), then found by similar.
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        summary = run.tag()
    assert (summary.reused, summary.tagged, summary.embedded) == (4, 0, 4)
    assert len(similar([files[0]], db, k=5)[0]['neighbours']) == 3


def test_a_schema_1_file_with_other_tables_is_refused_not_migrated(
        tmp_path):
    db = tmp_path / 'odd.db'
    conn = sqlite3.connect(db)
    conn.execute('CREATE TABLE songs (title TEXT)')
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = 1')
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(LibraryStoreError, match='schema 1.*not that schema'):
        LibraryStore(db)
    assert db.read_bytes() == before


def test_embed_model_without_a_store_is_refused(tmp_path, model_file,
                                                capsys):
    files = make_library(tmp_path / 'lib', 1)
    assert main(['tag', str(files[0]), '-m', str(model_file),
                 '--embed-model', str(model_file)]) == 2
    assert '--embed-model only applies with --db' in capsys.readouterr().err


def test_tag_db_stores_the_default_embedding_unless_none(tmp_path,
                                                          model_file,
                                                          capsys):
    files = make_library(tmp_path / 'lib', 2)
    db = tmp_path / 'lib.db'
    assert main(['tag', str(tmp_path / 'lib'), '-m', str(model_file),
                 '--db', str(db), '--embed-model', 'none',
                 '--no-progress']) == 0
    assert stored_vectors(db) == {}
    assert main(['tag', str(tmp_path / 'lib'), '-m', str(model_file),
                 '--db', str(db), '--no-progress']) == 0
    assert 'embeddings: 2 files embedded by rnn0-msd+mfcc' in \
        capsys.readouterr().err
    vectors = stored_vectors(db)
    assert sorted(vectors) == sorted(str(f) for f in files)
    assert {len(v) for v in vectors.values()} == {72}
    answer, = similar([files[0]], db, k=3)
    assert [n['path'] for n in answer['neighbours']] == [str(files[1])]


def test_a_file_tagged_and_embedded_in_one_run_is_decoded_once(
        tmp_path, monkeypatch):
    """``tag --db`` with its default embedding (``rnn0-msd+mfcc``) reads a
    new file once for the tags, the embedding model and the MFCCs (it was
    decoded three times), and stores the same vectors as the embedder
    alone and as a later run that embeds files whose tags were current."""
    from chainer_tagger.audio.decode import AudioSource
    from chainer_tagger.library.embedders import embedder
    lib = tmp_path / 'lib'
    lib.mkdir()
    files = []
    for name in ('bensound-cute.mp3', 'bensound-dubstep.mp3'):
        files.append(lib / name)
        files[-1].write_bytes((AUDIO / name).read_bytes())
    decodes = []
    count = AudioSource._count
    monkeypatch.setattr(AudioSource, '_count', lambda self: (
        decodes.append(self.path), count(self))[1])
    with LibraryRun([lib], 'crnn-msd', db=tmp_path / 'one.db',
                    embed_model='default') as run:
        summary = run.tag()
    assert (summary.tagged, summary.embedded) == (2, 2)
    assert sorted(decodes) == sorted(str(f) for f in files)
    once = stored_vectors(tmp_path / 'one.db')
    # The same vectors from the embedder alone ...
    alone = embedder('rnn0-msd+mfcc').embed(files)
    for f, (vector, error) in zip(files, alone):
        assert error is None
        np.testing.assert_array_equal(once[str(f)], vector)
    # ... and from a run that embeds files whose tags are current.
    later = tmp_path / 'later.db'
    with LibraryRun([lib], 'crnn-msd', db=later) as run:
        run.tag()
    with LibraryRun([lib], 'crnn-msd', db=later,
                    embed_model='default') as run:
        summary = run.tag()
    assert (summary.reused, summary.embedded) == (2, 2)
    assert stored_vectors(later).keys() == once.keys()
    for path, vector in stored_vectors(later).items():
        np.testing.assert_array_equal(vector, once[path])


def test_an_embedding_that_failed_with_its_tags_is_not_tried_again(
        tmp_path, model_file):
    """With ``retry_errors`` a file whose embedding failed is embedded
    again, but once per run: one that failed from the tagger's read is
    not tried again by the embedding pass (a melgram .npy has no audio
    for the MFCCs of a fused embedder)."""
    lib = tmp_path / 'lib'
    lib.mkdir()
    np.save(lib / 'clip.npy', np.zeros((96, 1366), np.float32))
    tries = []
    from chainer_tagger.library.embedders import FusedEmbedder
    extra = FusedEmbedder._extra
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FusedEmbedder, '_extra', lambda self, opened: (
            tries.append(opened.path), extra(self, opened))[1])
        with LibraryRun([lib], str(model_file), db=tmp_path / 'lib.db',
                        embed_model=str(model_file) + '+mfcc',
                        retry_errors=True) as run:
            summary = run.tag()
    assert (summary.tagged, summary.failed) == (1, 0)
    assert summary.embedded == 1 and len(tries) == 1
    with contextlib.closing(sqlite3.connect(tmp_path / 'lib.db')) as conn:
        assert conn.execute('SELECT vector FROM embeddings').fetchall() == \
            [(None,)]


def test_a_file_the_tagger_cannot_read_is_left_to_the_embedding_pass(
        tmp_path, model_file, monkeypatch):
    """The embedding model may read what the tagger cannot: such a file
    is embedded by the embedding pass, not stored as failed."""
    from chainer_tagger.inference import tagging
    files = make_library(tmp_path / 'lib', 2)
    read = tagging._read_centre

    def tagger_fails_on_the_first(path, *args):
        if str(path) == str(files[0]):
            raise InputError('{}: not for this tagger'.format(path))
        return read(path, *args)
    monkeypatch.setattr(tagging, '_read_centre', tagger_fails_on_the_first)
    with LibraryRun([tmp_path / 'lib'], str(model_file),
                    db=tmp_path / 'lib.db',
                    embed_model=str(model_file)) as run:
        summary = run.tag()
    assert (summary.failed, summary.embedded) == (1, 2)
    assert sorted(stored_vectors(tmp_path / 'lib.db')) == \
        sorted(str(f) for f in files)


def test_tags_written_into_files_keep_their_embeddings_current(
        tmp_path, model_file):
    make_library(tmp_path / 'lib', 3, exts=('flac',))
    db = tmp_path / 'lib.db'
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        run.tag()
        assert [o.status for o in run.write_tags()] == ['written'] * 3
    # The files changed (size, mtime) but not their audio: nothing is
    # tagged or embedded again.
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        summary = run.tag()
    assert (summary.reused, summary.tagged, summary.embedded) == (3, 0, 0)


@pytest.mark.parametrize('k', [1, 10, 12000, 25000, 39999, 40000, 50000])
def test_top_is_the_exact_top_k_for_any_k(k):
    # Beyond the sampled threshold's size (4 x 8192): k above the sample's
    # length (40000 // 4 = 10000 rows) must still be exact, not fail.
    from chainer_tagger.library.similarity import _top
    scores = np.random.default_rng(2).standard_normal(40000).astype(
        np.float32)
    top = _top(scores, k)
    want = min(k, len(scores))
    order = np.argsort(-scores, kind='stable')
    assert sorted(top.tolist()) == sorted(order[:want].tolist())
    ranked = top[np.argsort(-scores[top], kind='stable')]
    np.testing.assert_array_equal(scores[ranked], scores[order[:want]])


def test_k_larger_than_a_large_index_returns_every_file():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40000, 6)).astype(np.float32)
    index = SimilarityIndex(np.arange(40000), x, dimensions=6)
    answer = index.search_projected(index.stored_row(7), 10 ** 6, [7])[0]
    assert len(answer) == 39999 and 7 not in {f for f, _ in answer}
    answer = index.search_projected(index.stored_row(7), 40000)[0]
    assert sorted(f for f, _ in answer) == list(range(40000))
    sims = [s for _, s in answer]
    assert sims == sorted(sims, reverse=True)


@pytest.mark.parametrize('n', [50, 40000])
def test_ties_at_the_cut_keep_the_lowest_file_ids(n):
    # Every stored vector the same: every similarity ties, so the answer
    # is the k lowest file ids (as documented), whatever the partition
    # happened to pick.
    ids = np.arange(n)[::-1] * 2 + 5   # stored in descending id order
    x = np.tile(np.arange(1, 5, dtype=np.float32), (n, 1))
    index = SimilarityIndex(ids, x, dimensions=4)
    query = np.array([[1, 2, 3, 4]], np.float32)
    for k in (1, 3, 10):
        answer = index.search(query, k)[0]
        assert [f for f, _ in answer] == sorted(ids)[:k]
        answer = index.search(query, k, [5])[0]
        assert [f for f, _ in answer] == sorted(ids)[1:k + 1]


def test_a_non_finite_stored_vector_is_left_out_with_a_warning(
        library, tmp_path, capsys):
    # A damaged store: one embedding's bytes say NaN.  The rest of the
    # library stays searchable (no LinAlgError from the PCA on every
    # query), the damaged file is simply not in the index.
    root, files, db = library
    copy = tmp_path / 'damaged.db'
    copy_store(db, copy)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        vector, = conn.execute(
            'SELECT vector FROM embeddings WHERE file_id = 2').fetchone()
        bad = np.frombuffer(vector, '<f4').copy()
        bad[1] = np.nan
        conn.execute('UPDATE embeddings SET vector = ? WHERE file_id = 2',
                     (bad.tobytes(),))
        conn.commit()
    capsys.readouterr()
    with LibrarySimilarity(copy) as lib:
        answer = lib.to_stored(1, k=N)
        assert 2 not in lib.index().file_ids
        with pytest.raises(InputError, match='no stored embedding'):
            lib.to_stored(2)
    assert len(answer) == N - 2
    assert 2 not in [a['file_id'] for a in answer]
    assert all(np.isfinite(a['similarity']) for a in answer)
    err = capsys.readouterr().err
    assert '1 stored embedding' in err and 'left out' in err


def test_saving_the_index_removes_stale_partial_files(library, tmp_path):
    # A SIGKILLed similar leaves its unfinished index beside the store as
    # a .partial-*.npz; the next save removes it (unlocked, and older
    # than atomic_file's age rule where there is no flock), but not one
    # another process is writing (locked).
    import fcntl
    from chainer_tagger.atomic_file import PARTIAL_PREFIX, STALE_SECONDS
    root, files, db = library
    copy = tmp_path / 'copy.db'
    copy_store(db, copy)
    stale = tmp_path / (PARTIAL_PREFIX + 'killed.npz')
    stale.write_bytes(b'half an index')
    old = os.path.getmtime(stale) - 2 * STALE_SECONDS
    os.utime(stale, (old, old))
    busy = tmp_path / (PARTIAL_PREFIX + 'busy.npz')
    busy.write_bytes(b'being written')
    with open(busy, 'rb') as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with LibrarySimilarity(copy) as lib:
            lib.to_stored(1, k=2)
            assert os.path.exists('{}.similarity-{}.npz'.format(
                copy, lib.model_id))
        assert not stale.exists()
        assert busy.exists()


def test_a_stored_file_queried_through_a_link_is_not_its_own_neighbour(
        library, tmp_path, model_file, capsys):
    # The store names files by absolute path, links not resolved: a
    # stored file reached through a symbolic link (to it or to its
    # folder) or a hard link is still the query, not a neighbour at 1.
    root, files, db = library
    real = [n['path'] for n in similar([files[0]], db, k=N)[0]['neighbours']]
    assert len(real) == N - 1
    (tmp_path / 'link.wav').symlink_to(files[0])
    (tmp_path / 'folder').symlink_to(files[0].parent, target_is_directory=True)
    os.link(files[0], tmp_path / 'hard.wav')
    queries = [tmp_path / 'link.wav', tmp_path / 'folder' / files[0].name,
               tmp_path / 'hard.wav']
    for answer in similar(queries, db, k=N, embed_model=str(model_file)):
        paths = [n['path'] for n in answer['neighbours']]
        assert str(files[0]) not in paths, answer['path']
        assert paths == real
        assert max(n['similarity'] for n in answer['neighbours']) < 0.999
    # The symbolic links are found in the store by their real path: no
    # model is loaded to embed them (the stored model's name alone could
    # not be loaded).
    answers = similar(queries[:2], db, k=N)
    assert [[n['path'] for n in a['neighbours']] for a in answers] == \
        [real, real]
    # At the command line too.
    assert main(['similar', '--db', str(db), '-k', '3', '-f', 'json',
                 str(tmp_path / 'link.wav')]) == 0
    out, = json.loads(capsys.readouterr().out)
    assert [n['path'] for n in out['neighbours']] == real[:3]


def test_a_folder_stored_under_two_names_lists_each_file_once(
        tmp_path, model_file):
    files = make_library(tmp_path / 'lib', 5)
    (tmp_path / 'alias').symlink_to(tmp_path / 'lib',
                                    target_is_directory=True)
    db = tmp_path / 'lib.db'
    with LibraryRun([tmp_path / 'lib', tmp_path / 'alias'],
                    str(model_file), db=db,
                    embed_model=str(model_file)) as run:
        run.tag()
    assert len(stored_vectors(db)) == 10   # every file twice
    for query in (files[0], tmp_path / 'alias' / files[0].name):
        answer, = similar([query], db, k=10)
        paths = [n['path'] for n in answer['neighbours']]
        real = [os.path.realpath(p) for p in paths]
        # Its twin left out, each other file once (the better-ranked of
        # its two names), and as many as there are: 4.
        assert len(paths) == 4 and len(set(real)) == 4
        assert str(files[0]) not in real
        assert max(n['similarity'] for n in answer['neighbours']) < 0.999
    answer, = similar([files[0]], db, k=2)
    assert len(answer['neighbours']) == 2
    # The same by file id (serve's "more like this"): each stored name of
    # files[0] as the query.
    with LibrarySimilarity(db) as lib:
        ids = {os.fsdecode(p): i for i, p in lib.store.paths(
            range(1, 11)).items()}
        for name in (files[0], tmp_path / 'alias' / files[0].name):
            answer = lib.to_stored(ids[str(name)], k=10)
            real = [os.path.realpath(n['path']) for n in answer]
            assert len(real) == 4 and len(set(real)) == 4
            assert str(files[0]) not in real
