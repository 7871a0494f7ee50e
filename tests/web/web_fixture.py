"""Library stores for the web page's tests, written through the real
:class:`~chainer_tagger.library.store.LibraryStore` (so of the real
schema), with chosen scores instead of a model's."""
from chainer_tagger.library.file_identity import FileIdentity
from chainer_tagger.library.store import LibraryStore, ModelIdentity

TAGS = ['rock', 'jazz', 'pop', 'calm', 'loud']


def result(path, scores, model='tiny'):
    """A result as ``tag`` makes one: tags by decreasing score."""
    tags = sorted(scores.items(), key=lambda kv: -kv[1])
    return {'path': path, 'model': model, 'warnings': [],
            'tags': [{'tag': t, 'score': s} for t, s in tags]}


def make_store(db, tracks, failed=(), model='tiny', tags=TAGS):
    """A store at ``db`` holding ``tracks`` ``{path: {tag: score}}`` and
    the ``failed`` paths (an error each); returns ``{path: file id}``."""
    with LibraryStore(db) as store:
        model_id = store.model_id(ModelIdentity(
            model, '0' * 64, {'tags': list(tags)}, {}))
        rows = [(p.encode('utf-8', 'surrogateescape'),
                 FileIdentity(1000 + i, i, None), result(p, s, model))
                for i, (p, s) in enumerate(tracks.items())]
        rows += [(p.encode(), FileIdentity(1, 1, None),
                  {'path': p, 'model': model, 'warnings': [],
                   'error': '{}: cannot be decoded'.format(p)})
                 for p in failed]
        store.put(model_id, rows)
        conn = store._conn
        return {bytes(k).decode('utf-8', 'surrogateescape'): i
                for i, k in conn.execute('SELECT id, path FROM files')}
