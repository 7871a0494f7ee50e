"""Schema 3's ``scores``: every result's scores by tag, written with the
result (a run, a re-run over changed files, a replaced or failed
result), and filled from the stored JSON when a schema 2 (or 1) store is
migrated, in one transaction, its rows kept."""
import contextlib
import json
import os
import sqlite3

import pytest

from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import LibraryStoreError
from chainer_tagger.library.file_identity import FileIdentity
from chainer_tagger.library.runner import LibraryRun
from chainer_tagger.library.store import (LibraryStore, ModelIdentity,
                                          _read_only, _tables,
                                          expected_tables)

from library_fixture import (make_library, make_tiny_model, old_store,
                             scores_and_results)

TABLES_2 = ('models', 'files', 'results', 'embeddings', 'generations')


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


def result(path, scores):
    tags = sorted(scores.items(), key=lambda kv: -kv[1])
    return {'path': path, 'model': 'm', 'warnings': [],
            'tags': [{'tag': t, 'score': s} for t, s in tags]}


def schema_2_store(path, results):
    """A schema 2 store written with that schema's SQL only: two models,
    ``results`` ``{path: result dict}`` for the first, a failed file,
    one embedding."""
    conn = old_store(path, 2)
    conn.executemany('INSERT INTO models VALUES (?, ?, ?, ?, ?)', [
        (1, 'm', '0' * 64, '{}', '{}'), (2, 'e', '1' * 64, '{}', '{}')])
    for i, (p, r) in enumerate(sorted(results.items()), 1):
        conn.execute('INSERT INTO files VALUES (?, ?)', (i, p.encode()))
        conn.execute('INSERT INTO results VALUES (?, 1, ?, ?, NULL, ?, ?, '
                     "'2026-01-01T00:00:00+00:00')",
                     (i, 100 + i, i, int('error' in r), json.dumps(r)))
    conn.execute("INSERT INTO embeddings VALUES (1, 2, 101, 1, NULL, "
                 "x'0000803f', '2026-01-01T00:00:00+00:00')")
    conn.commit()
    conn.close()


def rows_of(db, tables):
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {t: conn.execute('SELECT * FROM {} ORDER BY 1, 2'.format(
            t)).fetchall() for t in tables}


def test_a_schema_2_store_is_migrated_with_its_scores(tmp_path):
    assert LIBRARY_SCHEMA_VERSION == 3
    db = tmp_path / 'old.db'
    schema_2_store(db, {
        '/m/a.mp3': result('/m/a.mp3', {'rock': 0.875, 'jazz': 0.125,
                                        'pop': 1 / 3}),
        '/m/b.mp3': result('/m/b.mp3', {'rock': 0.0, 'jazz': 0.9999999,
                                        'pop': 2e-09}),
        '/m/c.mp3': {'path': '/m/c.mp3', 'model': 'm', 'warnings': [],
                     'error': 'cannot be decoded'}})
    before = rows_of(db, TABLES_2)
    with LibraryStore(db):
        pass
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('PRAGMA user_version').fetchone()[0] == 3
        assert conn.execute('PRAGMA integrity_check').fetchone() == ('ok',)
    assert rows_of(db, TABLES_2) == before
    stored, from_json = scores_and_results(db)
    assert stored == from_json
    assert stored[(1, 1, 'pop')] == 1 / 3  # the same double, bit for bit
    assert stored[(2, 1, 'pop')] == 2e-09
    assert len(stored) == 6  # the failed file has none
    with contextlib.closing(_read_only(db)) as conn:
        assert _tables(conn) == expected_tables()
        indexes = {n for n, in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {'scores_by_tag', 'results_by_model'} <= indexes


def test_a_migration_that_fails_leaves_schema_2_whole(tmp_path):
    db = tmp_path / 'old.db'
    schema_2_store(db, {'/m/a.mp3': result('/m/a.mp3', {'rock': 0.5})})
    with contextlib.closing(sqlite3.connect(db)) as conn:
        # A result that is not JSON: filling ``scores`` fails half-way.
        conn.execute("INSERT INTO files VALUES (9, x'2f7a')")
        conn.execute("INSERT INTO results VALUES (9, 1, 1, 1, NULL, 0, "
                     "'{not json', 'x')")
        conn.commit()
    before = rows_of(db, TABLES_2)
    with pytest.raises(LibraryStoreError, match='cannot be opened'):
        LibraryStore(db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('PRAGMA user_version').fetchone()[0] == 2
        assert [n for n, in conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('scores', "
            "'scores_by_tag', 'results_by_model')")] == []
    assert rows_of(db, TABLES_2) == before


def test_a_schema_1_store_becomes_3_through_2(tmp_path):
    db = tmp_path / 'old.db'
    conn = old_store(db, 1)
    conn.execute("INSERT INTO models VALUES (1, 'm', 'ab', '{}', '{}')")
    conn.execute("INSERT INTO files VALUES (1, x'2f61')")
    conn.execute("INSERT INTO results VALUES (1, 1, 1, 1, NULL, 0, ?, 'x')",
                 (json.dumps(result('/a', {'rock': 0.25, 'pop': 0.75})),))
    conn.commit()
    conn.close()
    with LibraryStore(db) as store:
        assert store.generation() == 0
    stored, from_json = scores_and_results(db)
    assert stored == from_json == {(1, 1, 'rock'): 0.25,
                                   (1, 1, 'pop'): 0.75}


def test_put_keeps_scores_equal_to_the_results(tmp_path):
    db = tmp_path / 'lib.db'
    with LibraryStore(db) as store:
        m = store.model_id(ModelIdentity('m', 'ab' * 32, {}, {}))
        n = store.model_id(ModelIdentity('n', 'cd' * 32, {}, {}))
        one = FileIdentity(1, 1, None)
        store.put(m, [(b'/a', one, result('/a', {'rock': 0.5, 'pop': 0.25})),
                      (b'/b', one, result('/b', {'rock': 0.125}))])
        store.put(n, [(b'/a', one, result('/a', {'calm': 0.75}))])
        # A new result replaces the old one's scores, tag set and all...
        store.put(m, [(b'/a', one, result('/a', {'jazz': 0.0625}))])
        # ...and a failed one leaves none.
        store.put(m, [(b'/b', one, {'path': '/b', 'model': 'm',
                                    'error': 'gone'})])
    stored, from_json = scores_and_results(db)
    assert stored == from_json == {(1, 1, 'jazz'): 0.0625,
                                   (1, 2, 'calm'): 0.75}


def test_a_run_and_a_resumed_run_write_the_scores_once(tmp_path,
                                                       model_file):
    files = make_library(tmp_path / 'lib', 4)
    db = tmp_path / 'lib.db'
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db) as run:
        summary = run.tag()
    assert summary.tagged == 4
    stored, from_json = scores_and_results(db)
    assert stored == from_json and len(stored) == 4 * 5
    # Two files changed since (a new mtime): tagged again, their scores
    # replaced, not added; the others reused.
    for f in files[:2]:
        st = os.stat(f)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    with LibraryRun([tmp_path / 'lib'], str(model_file), db=db) as run:
        summary = run.tag()
    assert (summary.reused, summary.tagged) == (2, 2)
    stored, from_json = scores_and_results(db)
    assert stored == from_json and len(stored) == 4 * 5
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('PRAGMA foreign_key_check').fetchall() == []


def test_a_read_only_store_never_migrates_nor_writes(tmp_path):
    from chainer_tagger.library.similarity import similar_to_stored
    db = tmp_path / 'old.db'
    schema_2_store(db, {'/m/a.mp3': result('/m/a.mp3', {'rock': 0.5})})
    before = db.read_bytes()
    for open_it in (lambda: LibraryStore(db, read_only=True),
                    lambda: similar_to_stored(db, 1, read_only=True)):
        with pytest.raises(LibraryStoreError,
                           match='schema 2 .*open it once with '
                                 '`chainer-tagger tag --db '):
            open_it()
    assert db.read_bytes() == before
    with pytest.raises(LibraryStoreError, match='no library there'):
        LibraryStore(tmp_path / 'none.db', read_only=True)
    assert not (tmp_path / 'none.db').exists()
    with LibraryStore(db):  # migrated by a writer
        pass
    with LibraryStore(db, read_only=True) as store:
        assert store.model_settings(1) == {}
        with pytest.raises(LibraryStoreError, match='readonly'):
            store.model_id(ModelIdentity('x', 'ab', {}, {}))
