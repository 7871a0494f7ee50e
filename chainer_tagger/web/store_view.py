"""The library store as the web page reads it: read-only SQL queries.

Every connection is opened with SQLite's ``mode=ro`` URI, so no request
can write to the store, whatever goes wrong.  The store is checked once,
when the server starts (:func:`open_view`): a file that is not a
chainer-tagger library of this release's schema is one line and exit
status 2 then, not an error page later.

Every page is SQL on the store itself, driven by its indexes so that a
page stops after its own rows: the paths in order (``files``' unique
path) with each file's result looked up in ``results_by_model``, or one
tag's scores best first (``scores_by_tag``); each filter is a lookup of
the file's score by the ``scores`` key.  Only the page's own results
(the JSON) are read.
"""
import json
import os
import sqlite3

from chainer_tagger.configuration import LIBRARY_BUSY_SECONDS, WEB_TOP_TAGS
from chainer_tagger.errors import LibraryStoreError
from chainer_tagger.library.store import check_current, read_only_uri


def connect(path):
    conn = sqlite3.connect(read_only_uri(path), uri=True,
                           timeout=LIBRARY_BUSY_SECONDS,
                           check_same_thread=False)
    conn.execute('PRAGMA query_only = ON')
    return conn


def open_view(path):
    """A :class:`StoreView` of the library at ``path``, or a one-line
    :class:`LibraryStoreError` now: no such file, not a chainer-tagger
    library, another schema, or unreadable."""
    path = os.fspath(path)
    check_current(path)  # never writes; refuses what is not
    try:
        conn = connect(path)
        try:
            conn.execute('SELECT count(*) FROM models').fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise LibraryStoreError('--db {}: cannot be read ({})'.format(
            path, e)) from None
    return StoreView(path)


def display_path(raw):
    """A stored path (bytes) as text to show: undecodable bytes become
    U+FFFD, never an error."""
    return bytes(raw).decode('utf-8', 'replace')


def fingerprint(path):
    """What changes when a writer commits to the store: size and mtime
    of the file and of its WAL."""
    out = []
    for name in (path, path + '-wal'):
        try:
            st = os.stat(name)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class Query:
    """What the list shows: ``filters`` ``[(tag, min score)]`` (all must
    hold), ``sort`` (a tag: by its score, best first; None: by path),
    ``page`` (from 1) of ``size`` tracks."""

    def __init__(self, model_id, filters=(), sort=None, page=1, size=50):
        self.model_id = model_id
        self.filters = list(filters)
        self.sort = sort
        self.page = page
        self.size = size


class StoreView:
    """Read-only queries on one library store (see the module's
    docstring); one connection per call, so requests on several threads
    never share one."""

    def __init__(self, path):
        self.path = path
        self._models = None

    def close(self):
        """Nothing to release (one connection per call); kept so callers
        need not know."""

    def _conn(self):
        return connect(self.path)

    def root(self):
        """The folder every stored file is under (names are shown from
        there: ``album/track.mp3``), or ''."""
        conn = self._conn()
        try:
            low, high = conn.execute(
                'SELECT min(path), max(path) FROM files').fetchone()
        finally:
            conn.close()
        if low is None:
            return ''
        low, high = display_path(low), display_path(high)
        common = os.path.commonprefix([low, high])
        return common[:common.rfind('/') + 1]

    def models(self):
        """``[{'id', 'name', 'tags', 'tracks', 'failed'}]`` of the models
        with results (not those that only gave embeddings), the model
        with the most tracks first (counted again only when the store
        changed)."""
        stamp = fingerprint(self.path)
        cached = self._models
        if cached is not None and cached[0] == stamp:
            return cached[1]
        conn = self._conn()
        try:
            rows = conn.execute(
                'SELECT m.id, m.name, m.settings, '
                '(SELECT count(*) FROM results WHERE model_id = m.id AND '
                'failed = 0), (SELECT count(*) FROM results WHERE '
                'model_id = m.id AND failed = 1) FROM models AS m').fetchall()
            out = []
            for model_id, name, settings, tracks, failed in rows:
                if not tracks + failed:
                    continue  # an embedding model's row: no tags
                tags = _model_tags(conn, model_id, settings)
                out.append({'id': model_id, 'name': name, 'tags': tags,
                            'tracks': tracks, 'failed': failed})
        finally:
            conn.close()
        out.sort(key=lambda m: (-m['tracks'], m['id']))
        self._models = (stamp, out)
        return out

    def tracks(self, query):
        """``(total, rows)``: the number of tracks that pass the filters,
        and one page of them: ``{'id', 'path', 'tags' (the best
        :data:`WEB_TOP_TAGS`), 'scores' ({tag: score} of the filter and
        sort tags)}``."""
        sql, args = _page_sql(query)
        conn = self._conn()
        try:
            if query.filters:
                total = conn.execute(sql['count'],
                                     args['count']).fetchone()[0]
            else:
                total = next((m['tracks'] for m in self.models()
                              if m['id'] == query.model_id), 0)
            # The page's ids first (the sort carries no JSON), then
            # their rows.
            ids = [i for i, in conn.execute(
                'SELECT {} {}{} LIMIT ? OFFSET ?'.format(
                    sql['select'], sql['from'], sql['order']),
                args['from'] + args['order'] + [
                    query.size, (query.page - 1) * query.size])]
            found = {i: (path, result) for i, path, result in conn.execute(
                'SELECT r.file_id, f.path, r.result FROM results AS r JOIN '
                'files AS f ON f.id = r.file_id WHERE r.model_id = ? AND '
                'r.file_id IN ({})'.format(', '.join('?' * len(ids))),
                [query.model_id] + ids)}
        finally:
            conn.close()
        wanted = [t for t, _ in query.filters] + (
            [query.sort] if query.sort else [])
        out = []
        for file_id in ids:
            path, result = found[file_id]
            tags = json.loads(result).get('tags', [])
            scores = {t['tag']: t['score'] for t in tags}
            out.append({'id': file_id, 'path': display_path(path),
                        'tags': tags[:WEB_TOP_TAGS],
                        'scores': {t: scores.get(t) for t in wanted}})
        return total, out

    def track(self, file_id):
        """``{'id', 'path', 'results': [{'model', 'model_id', 'result',
        'tagged_at'}]}`` of one stored file, or None."""
        conn = self._conn()
        try:
            row = conn.execute('SELECT path FROM files WHERE id = ?',
                               (file_id,)).fetchone()
            if row is None:
                return None
            results = conn.execute(
                'SELECT m.name, m.id, r.result, r.tagged_at FROM results AS '
                'r JOIN models AS m ON m.id = r.model_id WHERE r.file_id = ? '
                'ORDER BY m.id', (file_id,)).fetchall()
        finally:
            conn.close()
        return {'id': file_id, 'path': display_path(row[0]),
                'results': [{'model': name, 'model_id': model_id,
                             'result': json.loads(result),
                             'tagged_at': tagged_at}
                            for name, model_id, result, tagged_at in results]}

    def audio_path(self, file_id):
        """The path (as the file system wants it) of a file the store
        holds, by its id; None for an id the store does not hold.  The
        only way the page finds a file to play: no path ever comes from a
        request."""
        conn = self._conn()
        try:
            row = conn.execute('SELECT path FROM files WHERE id = ?',
                               (file_id,)).fetchone()
        finally:
            conn.close()
        return None if row is None else os.fsdecode(bytes(row[0]))


def _model_tags(conn, model_id, settings):
    """A model's tags: from its settings, else from one stored result."""
    try:
        tags = json.loads(settings).get('tags')
    except ValueError:
        tags = None
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return tags
    row = conn.execute('SELECT result FROM results WHERE model_id = ? AND '
                       'failed = 0 LIMIT 1', (model_id,)).fetchone()
    if row is None:
        return []
    return sorted(t['tag'] for t in json.loads(row[0]).get('tags', []))


def _page_sql(query):
    """The ``FROM ... WHERE`` and ``ORDER BY`` of a page, with their
    arguments, and the count of its tracks.

    The sort tag's scores best first (``scores_by_tag``) or the paths in
    order (``files``, each file's result looked up in
    ``results_by_model``) drive the query (``CROSS JOIN`` keeps that
    order), and each filter is a lookup by the key of ``scores``, so a
    page stops after its rows.  Only results that did not fail have
    scores."""
    if query.sort:  # that tag's scores, best first, drive
        frm = ['FROM scores AS d']
        where = 'WHERE d.model_id = ? AND d.tag = ?'
        where_args = [query.model_id, query.sort]
        order = 'd.score DESC, d.file_id'
    else:  # the paths, in order, drive
        frm = ['FROM files AS f CROSS JOIN results AS d ON d.model_id = ? '
               'AND d.failed = 0 AND d.file_id = f.id']
        where, where_args = '', []
        order = 'f.path'
    from_args = [] if query.sort else [query.model_id]
    for i, (tag, low) in enumerate(query.filters):
        frm.append('CROSS JOIN scores AS s{i} ON s{i}.file_id = d.file_id '
                   'AND s{i}.model_id = d.model_id AND s{i}.tag = ? AND '
                   's{i}.score >= ?'.format(i=i))
        from_args += [tag, low]
    count, count_args = None, []
    if query.filters:  # counted over the first filter's range
        (tag, low), rest = query.filters[0], query.filters[1:]
        count = ['SELECT count(*) FROM scores AS c'] + [
            'CROSS JOIN scores AS c{i} ON c{i}.file_id = c.file_id AND '
            'c{i}.model_id = c.model_id AND c{i}.tag = ? AND '
            'c{i}.score >= ?'.format(i=i) for i in range(len(rest))]
        count.append('WHERE c.model_id = ? AND c.tag = ? AND c.score >= ?')
        count_args = [x for pair in rest for x in pair] + [
            query.model_id, tag, low]
    return ({'select': 'd.file_id',
             'from': ' '.join(frm) + (' ' + where if where else ''),
             'count': ' '.join(count) if count else None,
             'order': ' ORDER BY ' + order},
            {'from': from_args + where_args, 'order': [],
             'count': count_args})
