"""The library store under hostile conditions: processes creating one
database at once, a database of ours with other tables, a --db that is a
named pipe, files whose headers are impossible or that are not regular
files inside the library."""
import contextlib
import multiprocessing
import os
import sqlite3
import struct

import pytest

from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import LibraryStoreError
from chainer_tagger.library.file_identity import FileIdentity
from chainer_tagger.library.runner import tag_library
from chainer_tagger.library.store import (LibraryStore, ModelIdentity,
                                          existing_version)
from chainer_tagger.models import load_model

from forked import run_forked
from library_fixture import make_library, make_tiny_model, write_clip

FORK = multiprocessing.get_context('fork')


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    path = make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')
    return load_model(str(path))


def _create_and_write(db, barrier, name, report):
    """One process: wait for the other, then open (create) the store at
    the same moment and commit a result; says how it went on ``report``."""
    try:
        barrier.wait(10)
        with LibraryStore(db) as store:
            m = store.model_id(ModelIdentity('m', 'ab' * 32, {}, {}))
            store.put(m, [(name.encode(), FileIdentity(1, 2, None),
                           {'path': name, 'model': 'm', 'error': 'x'})])
        report.send('ok')
    except BaseException as e:  # reported to the parent, whatever it is
        report.send('{}: {}: {}'.format(name, type(e).__name__, e))
    finally:
        report.close()
        os._exit(0)


def test_two_processes_creating_one_database_at_once(tmp_path):
    """Two real processes start together on a database that does not exist
    yet, ten times over: both succeed every time, both results are in the
    one database, and nothing is left beside it."""
    for trial in range(10):
        folder = tmp_path / str(trial)
        folder.mkdir()
        db = folder / 'lib.db'
        barrier = FORK.Barrier(2)
        pipes = [FORK.Pipe(duplex=False) for _ in range(2)]
        procs = [FORK.Process(target=_create_and_write,
                              args=(db, barrier, name, send))
                 for name, (_, send) in zip(('one', 'two'), pipes)]
        for p in procs:
            p.start()
        reports = [receive.recv() if receive.poll(60) else 'hung'
                   for receive, _ in pipes]
        for p in procs:
            p.join(10)
        assert reports == ['ok', 'ok'], 'trial {}: {}'.format(trial, reports)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert sorted(bytes(p) for p, in conn.execute(
                'SELECT path FROM files')) == [b'one', b'two']
        assert sorted(p.name for p in folder.iterdir()) == ['lib.db']


def _killed_while_creating(db):
    import chainer_tagger.library.store as store

    def die(*_):
        os._exit(9)  # as if killed (no clean-up runs)
    store.os.replace = die
    store.os.link = die
    LibraryStore(db)


def test_a_killed_creator_leaves_nothing_that_blocks_the_next(tmp_path):
    db = tmp_path / 'lib.db'
    p = FORK.Process(target=_killed_while_creating, args=(db,))
    p.start()
    p.join(60)
    assert p.exitcode == 9
    assert len(list(tmp_path.iterdir())) == 2  # empty lib.db, its folder
    with LibraryStore(db) as store:
        store.model_id(ModelIdentity('m', 'ab' * 32, {}, {}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lib.db']


def _ours_with_other_tables(path):
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE songs (title TEXT)')
    conn.execute("INSERT INTO songs VALUES ('x')")
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = {}'.format(LIBRARY_SCHEMA_VERSION))
    conn.commit()
    conn.close()


def test_our_id_with_other_tables_is_refused_before_any_change(tmp_path):
    db = tmp_path / 'lib.db'
    _ours_with_other_tables(db)
    before = db.read_bytes()
    with pytest.raises(LibraryStoreError, match='its tables are not'):
        LibraryStore(db)
    assert db.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lib.db']
    # One of ours with a column changed is refused the same way.
    with LibraryStore(tmp_path / 'ok.db'):
        pass
    with contextlib.closing(sqlite3.connect(tmp_path / 'ok.db')) as conn:
        conn.execute('ALTER TABLE files ADD COLUMN note TEXT')
        conn.commit()
    with pytest.raises(LibraryStoreError, match='other columns in files'):
        existing_version(tmp_path / 'ok.db')


def _open_store(path):
    try:
        LibraryStore(path).close()
    except LibraryStoreError as e:
        return str(e)


def test_a_db_that_is_a_named_pipe_is_refused_at_once(tmp_path):
    fifo = tmp_path / 'lib.db'
    os.mkfifo(fifo)
    refused, _, _ = run_forked(_open_store, fifo, timeout=20)
    assert refused == '--db {}: a named pipe (FIFO), not a regular file; ' \
        'name a database file'.format(fifo)


def test_impossible_header_is_stored_as_failed_and_the_run_goes_on(
        tmp_path, tiny_model):
    """A WAV saying 0 Hz ended every run over the library (division by
    zero outside the per-file guard): now it is one failed file, stored
    as such, and a re-run reuses every result."""
    lib = tmp_path / 'lib'
    make_library(lib, 3)
    bad = bytearray((lib / 'track000.wav').read_bytes())
    struct.pack_into('<I', bad, 24, 0)  # the sample rate
    (lib / 'zero-rate.wav').write_bytes(bytes(bad))
    db = tmp_path / 'lib.db'
    first = tag_library([lib], tiny_model, db=db)
    [failed] = [r for r in first if 'error' in r]
    assert failed['path'].endswith('zero-rate.wav')
    assert 'sample rate of 0 Hz' in failed['error']
    assert sum('tags' in r for r in first) == 3
    with LibraryStore(db) as store:
        m = store.model_id(ModelIdentity(*_identity(tiny_model)))
        assert sum(e.failed for e in store.entries(m).values()) == 1
    assert tag_library([lib], tiny_model, db=db) == first


def _identity(model):
    from chainer_tagger.library.runner import model_identity
    return model_identity(model)


def test_special_files_in_a_library_never_block(tmp_path, tiny_model):
    """A named pipe and a socket with audio names, with --rehash (which
    reads every file): each is one error, the others are tagged."""
    import socket
    lib = tmp_path / 'lib'
    lib.mkdir()
    write_clip(lib / 'a.wav', 1)
    os.mkfifo(lib / 'pipe.wav')
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(lib / 'sock.flac'))
    write_clip(lib / 'z.wav', 2)
    try:
        for _ in range(2):  # created, then reused
            results, _, _ = run_forked(tag_library, [lib], tiny_model,
                                       tmp_path / 'lib.db', timeout=60)
            assert [os.path.basename(r['path']) for r in results] == [
                'a.wav', 'pipe.wav', 'sock.flac', 'z.wav']
            assert 'a named pipe (FIFO), not a regular file' in \
                results[1]['error']
            assert 'a socket, not a regular file' in results[2]['error']
            assert 'tags' in results[0] and 'tags' in results[3]
        results, _, _ = run_forked(_rehash, lib, tiny_model, tmp_path,
                                   timeout=60)
        assert [('error' in r) for r in results] == [False, True, True,
                                                     False]
    finally:
        sock.close()


def _rehash(lib, model, tmp_path):
    """--rehash reads every file's bytes: never a pipe's."""
    return tag_library([lib], model, db=tmp_path / 'lib.db', rehash=True)
