"""A tiny music library and a small model made on the fly.

The files are one second of seeded noise through a seeded tone, so every
file gets its own scores; the model is a randomly initialised
MusicTaggerCNN (the fastest tagger of the zoo) with five tags, its output
layer scaled down so that the scores spread over (0, 1) instead of
saturating.  The older schemas of the library store are here verbatim,
for the migration tests.
"""
import sqlite3

import numpy as np
import soundfile as sf

from chainer_tagger.configuration import LIBRARY_APPLICATION_ID
from chainer_tagger.models import MusicTaggerCNN
from chainer_tagger.pretrained import save_model_npz

SR = 8000
TAGS = ['rock', 'jazz', 'pop', 'calm', 'loud']
FORMATS = {'wav': ('WAV', 'PCM_16'), 'flac': ('FLAC', 'PCM_16'),
           'mp3': ('MP3', None), 'ogg': ('OGG', 'VORBIS')}


def make_tiny_model(path, seed=0):
    """A random five-tag CNN tagger saved as a model file at ``path``."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        model = MusicTaggerCNN(tags=TAGS)
    finally:
        np.random.set_state(state)
    model.output.W.array *= 0.2
    save_model_npz(path, model, {'arch': 'cnn', 'name': None,
                                 'settings': model.settings})
    return path


def clip(seed, seconds=1.0):
    """One second of seeded audio (float32 in [-0.5, 0.5])."""
    rng = np.random.RandomState(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    tone = np.sin(2 * np.pi * (100 + 37 * (seed % 50)) * t)
    return (0.25 * rng.uniform(-1, 1, n) + 0.25 * tone).astype(np.float32)


def write_clip(path, seed, seconds=1.0):
    ext = str(path).rsplit('.', 1)[-1]
    fmt, subtype = FORMATS[ext]
    sf.write(str(path), clip(seed, seconds), SR, format=fmt,
             subtype=subtype)
    return path


def make_library(root, n, exts=('wav',), seed=0):
    """``n`` files under ``root`` (some in a sub-folder), extensions taken
    in turn from ``exts``; returns their paths in scan order."""
    root.mkdir(parents=True, exist_ok=True)
    (root / 'album').mkdir(exist_ok=True)
    top, album = [], []
    for i in range(n):
        folder = album if i % 3 == 2 else top
        folder.append(write_clip(
            (root / 'album' if folder is album else root) /
            'track{:03d}.{}'.format(i, exts[i % len(exts)]), seed + i))
    return top + album  # a folder's files before its sub-folders


def scores_and_results(db):
    """``(scores, from JSON)`` of a library store: ``{(file id, model id,
    tag): score}`` read from its ``scores`` table, and the same read
    from each result's JSON (failed results have none), so a test can
    check that the two agree exactly."""
    import contextlib
    import json
    import sqlite3
    with contextlib.closing(sqlite3.connect(db)) as conn:
        table = conn.execute(
            'SELECT file_id, model_id, tag, score FROM scores').fetchall()
        results = conn.execute(
            'SELECT file_id, model_id, result FROM results WHERE '
            'failed = 0').fetchall()
    stored = {(f, m, t): s for f, m, t, s in table}
    assert len(stored) == len(table)  # each score once
    return stored, {(f, m, t['tag']): t['score'] for f, m, r in results
                    for t in json.loads(r).get('tags', [])}


#: The schema 2 tables, as chainer_tagger/library/store.py wrote them
#: before ``scores`` (commit 14e32ac), verbatim.
SCHEMA_2 = (
    '''CREATE TABLE IF NOT EXISTS models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        weights_sha256 TEXT NOT NULL,
        settings TEXT NOT NULL,
        window TEXT NOT NULL,
        UNIQUE (name, weights_sha256, settings, window))''',
    '''CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE)''',
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
    "INSERT INTO generations (name, value) VALUES "
    "('embeddings', 0) ON CONFLICT DO NOTHING",
    "INSERT INTO generations (name, value) VALUES "
    "('store', random()) ON CONFLICT DO NOTHING",
)

#: Schema 1 (before embeddings, commit d179e17): its first three tables.
OLD_SCHEMAS = {1: SCHEMA_2[:3], 2: SCHEMA_2}


def old_store(path, version):
    """An empty library store of an older schema ``version``, written with
    that schema's SQL only (for the migration tests)."""
    conn = sqlite3.connect(path)
    for statement in OLD_SCHEMAS[version]:
        conn.execute(statement)
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = {}'.format(version))
    conn.execute('PRAGMA journal_mode = WAL')
    conn.commit()
    return conn
