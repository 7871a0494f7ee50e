"""A tiny music library and a small model made on the fly.

The files are one second of seeded noise through a seeded tone, so every
file gets its own scores; the model is a randomly initialised
MusicTaggerCNN (the fastest tagger of the zoo) with five tags, its output
layer scaled down so that the scores spread over (0, 1) instead of
saturating.
"""
import numpy as np
import soundfile as sf

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
