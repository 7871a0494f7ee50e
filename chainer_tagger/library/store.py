"""The library store: every file's result for every model, in SQLite.

One file (``--db PATH``) holds, for each model identity (name, sha256 of
its weights, its settings and the window settings, see
:class:`ModelIdentity`), one row per audio file: the file's identity when
it was tagged (size, mtime, optional sha256, see
:mod:`~chainer_tagger.library.file_identity`), whether it failed, the
result exactly as reports print it (JSON), and when it was tagged, with
the result's scores by tag beside it (``scores``, written and replaced
with it).  The key ``(file, model)`` is unique, so a file is never stored
twice: a new result replaces the old one.

Each batch is one transaction, committed as it finishes, in WAL mode
(``synchronous=NORMAL``: a committed batch survives the process being
killed; only a power cut can lose the last ones), so a run killed at any
point loses at most the batch in flight.

The file says what it is: ``PRAGMA application_id`` is
:data:`~chainer_tagger.configuration.LIBRARY_APPLICATION_ID`, ``PRAGMA
user_version`` the schema version, and its tables are this schema's.
Anything else (another program's database, a file that is not SQLite, a
database of a newer schema, one of ours whose tables were changed, a
named pipe or device) is refused with
:class:`~chainer_tagger.errors.LibraryStoreError` after reading it through
a read-only connection, so it is never altered: nothing is written, no
pragma set, before the file has passed.

Processes that create the same new database at once are serialised by a
lock on the file (see :func:`create_database`); none ever removes a file
that another may be using.
"""
import collections
import contextlib
import datetime
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

from chainer_tagger.atomic_file import PARTIAL_PREFIX
from chainer_tagger.audio.discovery import special_file_kind
from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_BUSY_SECONDS,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import LibraryStoreError
from chainer_tagger.library.file_identity import FileIdentity

try:
    import fcntl
except ImportError:  # not POSIX: stale copies are recognised by their age
    fcntl = None

SQLITE_MAGIC = b'SQLite format 3\x00'

SCHEMA_V1 = (
    # One row per model identity; settings and window are canonical JSON.
    '''CREATE TABLE IF NOT EXISTS models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        weights_sha256 TEXT NOT NULL,
        settings TEXT NOT NULL,
        window TEXT NOT NULL,
        UNIQUE (name, weights_sha256, settings, window))''',
    # One row per file: the bytes of its absolute path.
    '''CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE)''',
    # One row per (file, model): the file as it was when tagged, and the
    # result as reports print it.
    '''CREATE TABLE IF NOT EXISTS results (
        file_id INTEGER NOT NULL REFERENCES files (id),
        model_id INTEGER NOT NULL REFERENCES models (id),
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        failed INTEGER NOT NULL,
        result TEXT NOT NULL,
        tagged_at TEXT NOT NULL,
        PRIMARY KEY (file_id, model_id)) WITHOUT ROWID''',
)

#: What version 2 adds: each file's embedding for an embedding model
#: (keyed and identified like its results; ``vector`` little-endian
#: float32, NULL when the file could not be embedded), and a stamp per
#: kind of row, a random number drawn anew by every change of those rows in
#: its transaction, so an index built from them can tell it is stale (a
#: random stamp rather than a counter: two copies of a database changed
#: apart never share one).
SCHEMA_V2_ADDS = (
    '''CREATE TABLE IF NOT EXISTS embeddings (
        file_id INTEGER NOT NULL REFERENCES files (id),
        model_id INTEGER NOT NULL REFERENCES models (id),
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        vector BLOB,
        embedded_at TEXT NOT NULL,
        PRIMARY KEY (file_id, model_id)) WITHOUT ROWID''',
    '''CREATE TABLE IF NOT EXISTS generations (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL) WITHOUT ROWID''',
)

#: Schema 2 whole, as it was written (kept to check a file of that schema
#: before migrating it).
SCHEMA_V2 = SCHEMA_V1 + SCHEMA_V2_ADDS

#: What version 3 adds: every score of every result, one row per (file,
#: model, tag), written in the transaction of its result (see
#: :meth:`LibraryStore.put`), so a page can filter and sort by a tag's
#: score with SQL instead of reading each result's JSON.  Its key
#: ``(file, model, tag)`` finds a file's scores (to replace them, or to
#: test a filter); ``scores_by_tag`` lists one tag's scores of a model,
#: best first; ``results_by_model`` lists and counts a model's results
#: without reading their JSON.  A failed result has no scores.
SCHEMA_V3_ADDS = (
    '''CREATE TABLE IF NOT EXISTS scores (
        file_id INTEGER NOT NULL REFERENCES files (id),
        model_id INTEGER NOT NULL REFERENCES models (id),
        tag TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (file_id, model_id, tag)) WITHOUT ROWID''',
    '''CREATE INDEX IF NOT EXISTS scores_by_tag ON scores
        (model_id, tag, score DESC, file_id)''',
    '''CREATE INDEX IF NOT EXISTS results_by_model ON results
        (model_id, failed, file_id)''',
)

#: The scores of the stored results, as :meth:`LibraryStore.put` writes
#: them: what a migration to schema 3 fills ``scores`` with.
FILL_SCORES = (
    '''INSERT INTO scores (file_id, model_id, tag, score)
        SELECT r.file_id, r.model_id, json_extract(j.value, '$.tag'),
               json_extract(j.value, '$.score')
        FROM results AS r, json_each(r.result, '$.tags') AS j
        WHERE r.failed = 0''',
)

#: The schema this release writes
#: (:data:`~chainer_tagger.configuration.LIBRARY_SCHEMA_VERSION`).
SCHEMA = SCHEMA_V2 + SCHEMA_V3_ADDS

#: Each schema version's tables, to check a file before using or
#: migrating it.
SCHEMAS = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA}

#: The rows every new or migrated database starts with: the embeddings'
#: generation, and a random number naming this database, so that a copy
#: of an index saved beside it is never taken for another database's.
INITIAL_ROWS = ("INSERT INTO generations (name, value) VALUES "
                "('embeddings', 0) ON CONFLICT DO NOTHING",
                "INSERT INTO generations (name, value) VALUES "
                "('store', random()) ON CONFLICT DO NOTHING")

#: ``{version: statements}`` that turn a database of that version into the
#: next one, in one transaction with the rows kept (see
#: :func:`migrate`).
MIGRATIONS = {1: SCHEMA_V2_ADDS + INITIAL_ROWS,
              2: SCHEMA_V3_ADDS + FILL_SCORES}


#: What identifies a model's results: its ``name``, the ``weights_sha256``
#: of its weights, its ``settings`` (what rebuilds it: tags, BN mode, Keras
#: preset...) and the ``window`` settings (a dict each).
ModelIdentity = collections.namedtuple(
    'ModelIdentity', 'name weights_sha256 settings window')

#: A stored file: its :class:`FileIdentity` when tagged, and whether its
#: result is an error.
Entry = collections.namedtuple('Entry', 'identity failed')


def canonical_json(value):
    """JSON with sorted keys and no spaces, so equal settings are equal
    text (the store's unique key compares text)."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'),
                      allow_nan=False)


def _read_only(path):
    """A connection that cannot write: used to look at a file before
    deciding whether it may be opened for writing."""
    return sqlite3.connect(read_only_uri(path), uri=True,
                           timeout=LIBRARY_BUSY_SECONDS)


def existing_version(path):
    """The schema version of the library database at ``path``, or None
    when there is none yet (no file, or an empty one);
    :class:`LibraryStoreError` for anything that is not a chainer-tagger
    library this release can use.  Never writes."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LibraryStoreError('--db {}: cannot be read ({})'.format(
            path, e.strerror or e)) from None
    if stat.S_ISDIR(mode):
        raise LibraryStoreError('--db {}: is a folder; name a database '
                                'file'.format(path))
    kind = special_file_kind(mode)
    if kind is not None:
        raise LibraryStoreError('--db {}: {}, not a regular file; name a '
                                'database file'.format(path, kind))
    try:
        with open(path, 'rb') as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise LibraryStoreError('--db {}: cannot be read ({})'.format(
            path, e.strerror or e)) from None
    if not head:
        return None
    if head != SQLITE_MAGIC:
        raise LibraryStoreError(
            '--db {}: not an SQLite database, so not a chainer-tagger '
            'library; it was left as it is (name another file)'.format(path))
    try:
        conn = _read_only(path)
        try:
            app, = conn.execute('PRAGMA application_id').fetchone()
            version, = conn.execute('PRAGMA user_version').fetchone()
            objects, = conn.execute(
                'SELECT count(*) FROM sqlite_master').fetchone()
            tables = _tables(conn) if app == LIBRARY_APPLICATION_ID and \
                version in SCHEMAS else None
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise LibraryStoreError('--db {}: cannot be read as a database '
                                '({}); it was left as it is'.format(
                                    path, e)) from None
    if app != LIBRARY_APPLICATION_ID:
        raise LibraryStoreError(
            '--db {}: another program\'s SQLite database (application_id '
            '{:#010x}, {} tables or indexes), not a chainer-tagger library '
            '(application_id {:#010x}); it was left as it is (name another '
            'file)'.format(path, app, objects, LIBRARY_APPLICATION_ID))
    if version > LIBRARY_SCHEMA_VERSION:
        raise LibraryStoreError(
            '--db {}: written by a newer chainer-tagger (library schema {}; '
            'this release knows schemas up to {}); it was left as it is: '
            'use a newer chainer-tagger, or another --db'.format(
                path, version, LIBRARY_SCHEMA_VERSION))
    if version < 1:
        raise LibraryStoreError(
            '--db {}: a chainer-tagger library without a schema version '
            '(damaged?); it was left as it is'.format(path))
    if tables is not None and tables != expected_tables(version):
        raise LibraryStoreError(
            '--db {}: marked as a chainer-tagger library (schema {}) but '
            'its tables are not that schema\'s ({}); it was left as it is '
            '(name another file)'.format(
                path, version, _difference(tables,
                                           expected_tables(version))))
    return version


def check_current(path):
    """Check, without writing, that ``path`` holds a library of this
    release's schema, as a reader that must not migrate it needs (``serve``,
    a read-only :class:`LibraryStore`); a one-line
    :class:`LibraryStoreError` otherwise, one of an older schema saying
    which command brings it up to date."""
    path = os.fspath(path)
    version = existing_version(path)  # never writes; refuses what is not
    if version is None:
        raise LibraryStoreError(
            '--db {}: no library there (make one with `chainer-tagger tag '
            '--db {} MUSIC`)'.format(path, path))
    if version != LIBRARY_SCHEMA_VERSION:
        raise LibraryStoreError(
            '--db {0}: a library of schema {1} (this release reads {2}); '
            'open it once with `chainer-tagger tag --db {0} MUSIC` (the '
            'music tagged before: its results are reused), which brings it '
            'up to date'.format(path, version, LIBRARY_SCHEMA_VERSION))


def read_only_uri(path):
    """The ``file:`` URI that opens ``path`` read-only (SQLite refuses
    every write through it)."""
    return Path(path).resolve().as_uri() + '?mode=ro'


def _tables(conn):
    """``{table: ((column, type, not null, default, key), ...)}`` of a
    database's own tables, read without writing."""
    names = [name for name, in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
        "LIKE 'sqlite_%' ORDER BY name")]
    return {name: tuple(tuple(row[1:]) for row in conn.execute(
        'PRAGMA table_info({})'.format(_quoted(name)))) for name in names}


def _quoted(name):
    return '"{}"'.format(name.replace('"', '""'))


@functools.lru_cache(maxsize=None)
def expected_tables(version=LIBRARY_SCHEMA_VERSION):
    """The tables of a schema version (:data:`SCHEMAS`), as
    :func:`_tables` reads them (built once, in memory)."""
    conn = sqlite3.connect(':memory:')
    try:
        for statement in SCHEMAS[version]:
            conn.execute(statement)
        return _tables(conn)
    finally:
        conn.close()


def _difference(found, expected):
    """What differs between two :func:`_tables` answers, in words."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(t for t in set(found) & set(expected)
                     if found[t] != expected[t])
    return '; '.join(text for text in (
        'missing ' + ', '.join(missing) if missing else '',
        'unknown ' + ', '.join(extra) if extra else '',
        'other columns in ' + ', '.join(changed) if changed else '') if text)


def create_database(path):
    """Create an empty library database at ``path`` (a link's target),
    all at once, unless another process has.

    Creators of the same file are serialised by an exclusive ``flock`` on
    it (an empty file, created if missing, is no database yet).  The one
    holding the lock writes the tables, application id, schema version
    and WAL mode into a private folder beside it (``.partial-db-*``, where
    SQLite's journal lives too) and renames the file into place: so a
    process killed meanwhile leaves no database, or a whole one, never a
    half-made one (nor a hot journal) that would be refused.  A process
    that gets the lock after another's database is in place keeps that
    one.  Nothing another process may be using is ever removed: the only
    leftover removed is the private folder of a killed creator of this
    same file, found while holding its lock.
    """
    path = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    if fcntl is None:  # no flock: the unlocked way, never replacing data
        _build_and_place(path, lock_fd=None)
        return
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                continue  # removed meanwhile: start again
            if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                return  # another process put its database in place
            if mine.st_size > 0:
                return  # a database (or something to refuse) is there
            _build_and_place(path, lock_fd=fd)
            return
        finally:
            os.close(fd)
    raise OSError('{}: removed again and again while being created'.format(
        path))


def _build_and_place(path, lock_fd):
    """Write a new database in a private folder beside ``path`` and move
    it to ``path`` (replacing the empty file whose lock ``lock_fd`` we
    hold; without a lock, only where there is no file yet)."""
    folder, name = os.path.split(path)
    private = os.path.join(folder, '{}db-{}'.format(
        PARTIAL_PREFIX, hashlib.sha256(name.encode(
            'utf-8', 'surrogateescape')).hexdigest()[:16]))
    if lock_fd is not None:
        # Only a killed creator of this file, which held this lock, could
        # have left it.
        shutil.rmtree(private, ignore_errors=True)
    else:
        private += '-{}'.format(os.getpid())
    os.mkdir(private)
    try:
        tmp = os.path.join(private, 'library.db')
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            for statement in SCHEMA + INITIAL_ROWS:
                conn.execute(statement)
            conn.execute('PRAGMA application_id = {:d}'.format(
                LIBRARY_APPLICATION_ID))
            conn.execute('PRAGMA user_version = {:d}'.format(
                LIBRARY_SCHEMA_VERSION))
            conn.execute('PRAGMA journal_mode = WAL')
        finally:
            conn.close()
        if lock_fd is not None:
            os.replace(tmp, path)  # the empty file we hold locked
        else:
            try:
                os.link(tmp, path)  # never replaces another's database
            except FileExistsError:
                if os.path.getsize(path) == 0:
                    os.replace(tmp, path)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def migrate(path):
    """Bring the library database at ``path`` (of an older schema, already
    checked by :func:`existing_version`) to this release's schema, its rows
    kept: :data:`MIGRATIONS` one version after the other, all in one
    transaction, so a process killed meanwhile leaves the old schema whole.
    Processes migrating the same file at once are serialised by SQLite's
    write lock; the later one finds it done.  A database once migrated is
    refused by older releases (a newer schema), as the schema rule says."""
    conn = sqlite3.connect(os.fspath(path), timeout=LIBRARY_BUSY_SECONDS,
                           isolation_level=None)
    try:
        conn.execute('BEGIN IMMEDIATE')
        try:
            version, = conn.execute('PRAGMA user_version').fetchone()
            for v in range(version, LIBRARY_SCHEMA_VERSION):
                for statement in MIGRATIONS[v]:
                    conn.execute(statement)
            conn.execute('PRAGMA user_version = {:d}'.format(
                max(version, LIBRARY_SCHEMA_VERSION)))
        except BaseException:
            conn.execute('ROLLBACK')
            raise
        conn.execute('COMMIT')
    finally:
        conn.close()


class LibraryStore:
    """A library database, opened for reading and writing (or reading
    only).

    Parameters
    ----------
    path : str or path-like
        Created when missing (its folder too).  A database this release
        cannot use is refused with :class:`LibraryStoreError` and not
        altered; one of an older schema is migrated (:func:`migrate`).
    threads : bool
        Let threads other than this one use the connection (the caller
        serialises them).
    read_only : bool
        Open it through a ``mode=ro`` connection (``query_only`` too), for
        a reader that promises to write nothing (``serve``): nothing is
        created or migrated, a missing store or one of an older schema is
        a :class:`LibraryStoreError` (:func:`check_current`), and every
        method that writes fails with one.
    """

    def __init__(self, path, threads=False, read_only=False):
        self.path = os.fspath(path)
        self.read_only = read_only
        if read_only:
            self._open_read_only(threads)
            return
        try:
            version = existing_version(self.path)
            if version is None:
                create_database(self.path)
                version = existing_version(self.path)  # another's may win
            if version < LIBRARY_SCHEMA_VERSION:
                migrate(self.path)
            self._conn = sqlite3.connect(self.path,
                                         timeout=LIBRARY_BUSY_SECONDS,
                                         isolation_level=None,
                                         check_same_thread=not threads)
        except (OSError, sqlite3.Error) as e:
            raise LibraryStoreError('--db {}: cannot be opened ({})'.format(
                self.path, getattr(e, 'strerror', None) or e)) from None
        try:
            self._conn.execute('PRAGMA journal_mode = WAL')
            self._conn.execute('PRAGMA synchronous = NORMAL')
            self._conn.execute('PRAGMA foreign_keys = ON')
        except sqlite3.Error as e:
            self._conn.close()
            raise LibraryStoreError('--db {}: cannot be used ({})'.format(
                self.path, e)) from None

    def _open_read_only(self, threads):
        check_current(self.path)
        try:
            self._conn = sqlite3.connect(read_only_uri(self.path), uri=True,
                                         timeout=LIBRARY_BUSY_SECONDS,
                                         isolation_level=None,
                                         check_same_thread=not threads)
            try:
                self._conn.execute('PRAGMA query_only = ON')
            except sqlite3.Error:
                self._conn.close()
                raise
        except sqlite3.Error as e:
            raise LibraryStoreError('--db {}: cannot be read ({})'.format(
                self.path, e)) from None

    @contextlib.contextmanager
    def _transaction(self):
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error
        (the connection is in autocommit mode, so each transaction is
        explicit); an SQLite error (disk full, locked longer than
        :data:`~chainer_tagger.configuration.LIBRARY_BUSY_SECONDS`) is a
        one-line :class:`LibraryStoreError`."""
        try:
            self._conn.execute('BEGIN IMMEDIATE')
            try:
                yield
            except BaseException:
                self._conn.execute('ROLLBACK')
                raise
            self._conn.execute('COMMIT')
        except sqlite3.Error as e:
            raise LibraryStoreError('--db {}: {}'.format(self.path,
                                                         e)) from None

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def model_id(self, identity):
        """The id of a :class:`ModelIdentity`, added when new."""
        key = (identity.name, identity.weights_sha256,
               canonical_json(identity.settings),
               canonical_json(identity.window))
        with self._transaction():
            self._conn.execute(
                'INSERT INTO models (name, weights_sha256, settings, window) '
                'VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', key)
            row = self._conn.execute(
                'SELECT id FROM models WHERE name = ? AND weights_sha256 = ? '
                'AND settings = ? AND window = ?', key).fetchone()
        return row[0]

    def entries(self, model_id):
        """``{path key: Entry}`` of every file stored for a model (without
        the results, which are read one at a time by :meth:`result`)."""
        rows = self._conn.execute(
            'SELECT files.path, size, mtime_ns, sha256, failed FROM results '
            'JOIN files ON files.id = results.file_id WHERE model_id = ?',
            (model_id,))
        return {bytes(path): Entry(FileIdentity(size, mtime, sha),
                                   bool(failed))
                for path, size, mtime, sha, failed in rows}

    def put(self, model_id, rows):
        """Store results, all in one transaction: ``rows`` of
        ``(path key, FileIdentity, result dict)``; a file's earlier result
        for the model is replaced.  Each result's scores go into
        ``scores`` in the same transaction (its earlier ones removed), so
        the two never disagree, whichever process writes (a plain run,
        rank 0 of a distributed one, a resumed one)."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds')
        with self._transaction():
            for key, identity, result in rows:
                file_id = self._file_id(key)
                self._conn.execute(
                    'DELETE FROM scores WHERE file_id = ? AND model_id = ?',
                    (file_id, model_id))
                if 'error' not in result:
                    self._conn.executemany(
                        'INSERT INTO scores (file_id, model_id, tag, score) '
                        'VALUES (?, ?, ?, ?)',
                        [(file_id, model_id, t['tag'], t['score'])
                         for t in result.get('tags') or ()])
                self._conn.execute(
                    'INSERT INTO results (file_id, model_id, size, mtime_ns, '
                    'sha256, failed, result, tagged_at) '
                    'VALUES (?, ?, ?, ?, ?, ?, ?, ?) '
                    'ON CONFLICT (file_id, model_id) DO UPDATE SET '
                    'size = excluded.size, mtime_ns = excluded.mtime_ns, '
                    'sha256 = excluded.sha256, failed = excluded.failed, '
                    'result = excluded.result, '
                    'tagged_at = excluded.tagged_at',
                    (file_id, model_id, identity.size, identity.mtime_ns,
                     identity.sha256, int('error' in result),
                     json.dumps(result, allow_nan=False), now))

    def _file_id(self, key):
        self._conn.execute('INSERT INTO files (path) VALUES (?) '
                           'ON CONFLICT (path) DO NOTHING', (key,))
        return self._conn.execute('SELECT id FROM files WHERE path = ?',
                                  (key,)).fetchone()[0]

    def record_hashes(self, model_id, hashes):
        """Add the sha256 of files stored without one (``--rehash`` over
        entries tagged before): ``hashes`` of ``(path key, sha256)``."""
        with self._transaction():
            self._conn.executemany(
                'UPDATE results SET sha256 = ? WHERE model_id = ? AND '
                'sha256 IS NULL AND file_id = (SELECT id FROM files WHERE '
                'path = ?)', [(sha, model_id, key) for key, sha in hashes])

    def result(self, model_id, key):
        """The stored result of a file for a model, or None."""
        row = self._conn.execute(
            'SELECT result FROM results JOIN files ON files.id = file_id '
            'WHERE model_id = ? AND files.path = ?',
            (model_id, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def move(self, key, old, new):
        """A file was rewritten by us without changing its audio (tags
        written into it): every model's entry (result or embedding) that
        matched its identity ``old`` now names ``new``, so the next run
        does not tag or embed it again.  Returns the number of results
        moved."""
        with self._transaction():
            moved = 0
            for table in ('results', 'embeddings'):
                cursor = self._conn.execute(
                    'UPDATE {} SET size = ?, mtime_ns = ?, sha256 = ? '
                    'WHERE file_id = (SELECT id FROM files WHERE path = ?) '
                    'AND size = ? AND mtime_ns = ? AND '
                    '(sha256 IS NULL OR ? IS NULL OR sha256 = ?)'.format(
                        table),
                    (new.size, new.mtime_ns, new.sha256, key, old.size,
                     old.mtime_ns, old.sha256, old.sha256))
                if table == 'results':
                    moved = cursor.rowcount
        return moved

    # --- embeddings -------------------------------------------------------

    def embedding_entries(self, model_id):
        """``{path key: Entry}`` of every file embedded by a model (an
        embedding model's id from :meth:`model_id`); ``failed`` when the
        file could not be embedded."""
        rows = self._conn.execute(
            'SELECT files.path, size, mtime_ns, sha256, vector IS NULL '
            'FROM embeddings JOIN files ON files.id = embeddings.file_id '
            'WHERE model_id = ?', (model_id,))
        return {bytes(path): Entry(FileIdentity(size, mtime, sha),
                                   bool(failed))
                for path, size, mtime, sha, failed in rows}

    def put_embeddings(self, model_id, rows):
        """Store embeddings, all in one transaction: ``rows`` of ``(path
        key, FileIdentity, vector)``, ``vector`` the bytes of a
        little-endian float32 array, or None for a file that could not be
        embedded; a file's earlier embedding by the model is replaced.
        Draws a new ``embeddings`` generation, so indexes built before see
        that they are stale."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds')
        with self._transaction():
            for key, identity, vector in rows:
                self._conn.execute(
                    'INSERT INTO embeddings (file_id, model_id, size, '
                    'mtime_ns, sha256, vector, embedded_at) '
                    'VALUES (?, ?, ?, ?, ?, ?, ?) '
                    'ON CONFLICT (file_id, model_id) DO UPDATE SET '
                    'size = excluded.size, mtime_ns = excluded.mtime_ns, '
                    'sha256 = excluded.sha256, vector = excluded.vector, '
                    'embedded_at = excluded.embedded_at',
                    (self._file_id(key), model_id, identity.size,
                     identity.mtime_ns, identity.sha256,
                     None if vector is None else bytes(vector), now))
            self._conn.execute("UPDATE generations SET value = random() "
                               "WHERE name = 'embeddings'")

    def generation(self):
        """The embeddings' stamp, drawn anew by every change: an index
        built at one value is stale at any other."""
        return self._conn.execute(
            "SELECT value FROM generations WHERE name = 'embeddings'"
        ).fetchone()[0]

    def token(self):
        """A random number drawn when this database was made (or
        migrated): what tells it from another one at the same path."""
        return self._conn.execute(
            "SELECT value FROM generations WHERE name = 'store'"
        ).fetchone()[0]

    @contextlib.contextmanager
    def embedding_snapshot(self, model_id):
        """``(generation, count, rows)`` of a model's stored embeddings
        (failed files left out): ``rows`` iterates ``(file id, vector
        bytes)`` in file id order, read in one transaction with the
        generation and count, so they are one state of the store (WAL: a
        writer meanwhile is not seen).  Read ``rows`` inside the
        ``with``."""
        try:
            self._conn.execute('BEGIN')
            try:
                generation = self.generation()
                where = 'FROM embeddings WHERE model_id = ? AND vector IS ' \
                        'NOT NULL'
                count, = self._conn.execute('SELECT count(*) ' + where,
                                            (model_id,)).fetchone()
                yield generation, count, self._conn.execute(
                    'SELECT file_id, vector ' + where + ' ORDER BY file_id',
                    (model_id,))
            finally:
                self._conn.execute('COMMIT')
        except sqlite3.Error as e:
            raise LibraryStoreError('--db {}: {}'.format(self.path,
                                                         e)) from None

    def model_settings(self, model_id):
        """The settings (a dict) a model id was stored with."""
        return json.loads(self._conn.execute(
            'SELECT settings FROM models WHERE id = ?',
            (model_id,)).fetchone()[0])

    def find_model_id(self, identity):
        """The id of a :class:`ModelIdentity` already stored, or None
        (never writes)."""
        row = self._conn.execute(
            'SELECT id FROM models WHERE name = ? AND weights_sha256 = ? '
            'AND settings = ? AND window = ?',
            (identity.name, identity.weights_sha256,
             canonical_json(identity.settings),
             canonical_json(identity.window))).fetchone()
        return None if row is None else row[0]

    def embedding_models(self):
        """``[(model id, name, embedded files)]`` of every model with
        stored embeddings, the most embedded first."""
        return self._conn.execute(
            'SELECT models.id, models.name, count(*) FROM embeddings JOIN '
            'models ON models.id = embeddings.model_id WHERE vector IS NOT '
            'NULL GROUP BY models.id ORDER BY count(*) DESC, models.id'
        ).fetchall()

    def stored_embedding(self, model_id, key):
        """``(file id, FileIdentity, vector bytes or None)`` of a file's
        embedding by a model, or None when it has none."""
        row = self._conn.execute(
            'SELECT file_id, size, mtime_ns, sha256, vector FROM embeddings '
            'JOIN files ON files.id = file_id WHERE model_id = ? AND '
            'files.path = ?', (model_id, key)).fetchone()
        if row is None:
            return None
        return row[0], FileIdentity(*row[1:4]), row[4]

    def paths(self, file_ids):
        """``{file id: path key}`` of the files whose ids are given."""
        ids = list(file_ids)
        out = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            out.update((i, bytes(p)) for i, p in self._conn.execute(
                'SELECT id, path FROM files WHERE id IN ({})'.format(
                    ','.join('?' * len(part))), part))
        return out
