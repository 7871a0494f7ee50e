"""``serve``'s page at the HTTP level: what it lists, filters, sorts and
pages, and its safety rules (read-only, audio only by the store's id,
with ranges, names escaped, a bad store refused at start)."""
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from chainer_tagger.cli import main
from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import LibraryStoreError
from chainer_tagger.library.file_identity import FileIdentity
from chainer_tagger.library.store import SCHEMAS, LibraryStore, ModelIdentity
from chainer_tagger.web import app as web_app
from chainer_tagger.web.store_view import Query, open_view

from web_fixture import TAGS, make_store

ROOT = Path(__file__).resolve().parents[2]
XSS = '<script>alert(1)</script>'


def scores(i):
    """Distinct, known scores for track ``i``."""
    return {t: round(((i * 7 + j * 13) % 20) / 20 + 0.01, 3)
            for j, t in enumerate(TAGS)}


@pytest.fixture
def library(tmp_path):
    music = tmp_path / 'music'
    (music / XSS[:-8]).mkdir(parents=True)  # '<script>alert(1)<'
    audio = bytes(range(256)) * 40  # any bytes: the page never decodes
    tracks = {}
    for i in range(12):
        path = music / 'track{:02d}.wav'.format(i)
        path.write_bytes(audio[i:])
        tracks[str(path)] = scores(i)
    evil = music / (XSS + '.mp3')
    evil.write_bytes(audio)
    tracks[str(evil)] = {'rock': 0.99, 'jazz': 0.0, 'pop': 0.0,
                         'calm': 0.0, 'loud': 0.0}
    db = tmp_path / 'lib.db'
    ids = make_store(db, tracks, failed=[str(music / 'broken.mp3')])
    return db, ids, tracks


@pytest.fixture
def client(library):
    with TestClient(web_app.build_app(library[0]),
                    base_url='http://127.0.0.1:8765') as c:
        yield c


def listed(page_text):
    """The file ids of the list's rows, in order."""
    return [int(part.split('"', 1)[0]) for part in
            page_text.split('class="play" data-src="/audio/')[1:]]


def expected(tracks, ids, filters=(), sort=None):
    keep = [p for p, s in tracks.items()
            if all(s[t] >= low for t, low in filters)]
    if sort:
        keep.sort(key=lambda p: (-tracks[p][sort], ids[p]))
    else:
        keep.sort(key=lambda p: p.encode())
    return [ids[p] for p in keep]


def test_list_shows_every_track_with_best_tags_and_pages(client, library):
    db, ids, tracks = library
    r = client.get('/')
    assert r.status_code == 200
    assert '<strong id="total">13</strong> tracks' in r.text
    assert '1 failed to tag (not listed)' in r.text
    assert listed(r.text) == expected(tracks, ids)
    first = ids[str(db.parent / 'music' / 'track00.wav')]
    row = r.text.split('data-src="/audio/{}"'.format(first))[1]
    best = sorted(tracks[str(db.parent / 'music/track00.wav')].items(),
                  key=lambda kv: -kv[1])
    assert row.index(best[0][0] + ' <small>') < row.index(
        best[1][0] + ' <small>')
    pages = [listed(client.get('/?size=5&page={}'.format(p)).text)
             for p in (1, 2, 3)]
    assert sum(pages, []) == expected(tracks, ids)
    assert [len(p) for p in pages] == [5, 5, 3]
    assert 'page 3 of 3' in client.get('/?size=5&page=3').text
    assert 'rel="next" href="?size=5&amp;page=2"' in client.get(
        '/?size=5').text


def test_filters_and_sort_are_exact(library):
    db, ids, tracks = library
    view = open_view(db)
    try:
        for filters, sort in [([], None),
                              ([('rock', 0.5)], None),
                              ([('rock', 0.3), ('calm', 0.4)], None),
                              ([], 'jazz'),
                              ([('pop', 0.2)], 'loud'),
                              ([('loud', 0.99)], None)]:
            total, rows = view.tracks(Query(1, filters, sort, 1, 100))
            want = expected(tracks, ids, filters, sort)
            assert [r['id'] for r in rows] == want, (filters, sort)
            assert total == len(want)
            for r in rows:
                for tag, score in r['scores'].items():
                    assert score == tracks[r['path']][tag]
        total, rows = view.tracks(Query(1, [('rock', 0.3)], 'rock', 2, 3))
        assert [r['id'] for r in rows] == expected(
            tracks, ids, [('rock', 0.3)], 'rock')[3:6]
        total, rows = view.tracks(Query(1, [('calm', 0.2)], None, 3, 2))
        assert [r['id'] for r in rows] == expected(
            tracks, ids, [('calm', 0.2)])[4:6]
    finally:
        view.close()


def test_filter_through_the_page(client, library):
    db, ids, tracks = library
    r = client.get('/', params=[('tag', 'rock'), ('min', '0.5'),
                                ('tag', 'calm'), ('min', '0.3'),
                                ('tag', ''), ('min', '0.5'),
                                ('sort', 'calm')])
    want = expected(tracks, ids, [('rock', 0.5), ('calm', 0.3)], 'calm')
    assert listed(r.text) == want and want
    assert '<strong id="total">{}</strong>'.format(len(want)) in r.text
    assert '<th class="num">rock</th><th class="num">calm</th>' in r.text
    r = client.get('/?tag=nosuch&min=0.5')
    assert "&#39;nosuch&#39; is not a tag of tiny: ignored" in r.text
    assert client.get('/?tag=rock&min=high').status_code == 400
    assert client.get('/?tag=rock&min=2').status_code == 400
    assert client.get('/?page=0').status_code == 400
    assert client.get('/?model=9').status_code == 404


def test_every_name_is_escaped(client, library):
    db, ids, tracks = library
    evil = str(db.parent / 'music' / (XSS + '.mp3'))
    for url in ['/', '/track/{}'.format(ids[evil]),
                '/?tag=rock&min=0.9']:
        text = client.get(url).text
        assert XSS not in text and '<script>alert' not in text
        assert '&lt;script&gt;alert(1)&lt;/script&gt;.mp3' in text
    text = client.get('/?tag=' + XSS + '&min=0.1').text
    assert '<script>alert' not in text


def test_track_page_shows_all_tags_and_why_no_taggram(client, library):
    db, ids, tracks = library
    path = str(db.parent / 'music' / 'track03.wav')
    text = client.get('/track/{}'.format(ids[path])).text
    for tag, score in tracks[path].items():
        assert '<span class="tag">{}</span>'.format(tag) in text
        assert '<span class="score">{:.3f}</span>'.format(score) in text
    assert 'not the scores of each window, so there is no taggram' in text
    assert 'src="/audio/{}"'.format(ids[path]) in text
    broken = ids[str(db.parent / 'music' / 'broken.mp3')]
    assert 'cannot be decoded' in client.get('/track/{}'.format(broken)).text
    assert client.get('/track/999').status_code == 404


def test_audio_by_id_with_ranges(client, library):
    db, ids, tracks = library
    path = db.parent / 'music' / 'track05.wav'
    data = path.read_bytes()
    url = '/audio/{}'.format(ids[str(path)])
    r = client.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers['accept-ranges'] == 'bytes'
    assert r.headers['content-type'] == 'audio/wav'
    r = client.get(url, headers={'Range': 'bytes=100-199'})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers['content-range'] == 'bytes 100-199/{}'.format(len(data))
    r = client.get(url, headers={'Range': 'bytes=1000-'})
    assert r.status_code == 206 and r.content == data[1000:]
    assert r.headers['content-range'] == 'bytes 1000-{}/{}'.format(
        len(data) - 1, len(data))
    r = client.get(url, headers={'Range': 'bytes=-10'})
    assert r.status_code == 206 and r.content == data[-10:]
    r = client.get(url, headers={'Range': 'bytes={}-'.format(len(data) + 5)})
    assert r.status_code == 416
    evil = str(db.parent / 'music' / (XSS + '.mp3'))
    assert client.get('/audio/{}'.format(ids[evil])).headers[
        'content-type'] == 'audio/mpeg'


@pytest.mark.parametrize('url', [
    '/audio/..%2f..%2f..%2fetc%2fpasswd',
    '/audio/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/audio//etc/passwd',
    '/audio/%2Fetc%2Fpasswd',
    '/audio/1/../../../etc/passwd',
    '/audio/1%2f..%2f..%2fetc%2fpasswd',
    '/audio/1?path=/etc/passwd&file=../../etc/passwd',
    '/audio/999',
    '/audio/0',
    '/audio/-1',
    '/audio/1.0',
    '/audio/0x1',
    '/static/../lib.db',
    '/static/%2e%2e/%2e%2e/lib.db',
    '/static/..%2f..%2fapp.py',
])
def test_audio_only_by_a_stored_id(client, library, url):
    r = client.get(url)
    db = library[0]
    if url.startswith('/audio/1?'):  # the id is stored: its file, only
        assert r.status_code == 200
        assert r.content == (db.parent / 'music' /
                             'track00.wav').read_bytes()
        return
    assert r.status_code == 404, url
    assert b'root:' not in r.content
    assert db.read_bytes()[:16] not in r.content


@pytest.mark.parametrize('host', ['evil.example', 'evil.example:8765',
                                  '127.0.0.1.evil.example', ''])
def test_other_host_names_are_refused(client, host):
    """DNS rebinding: a page of evil.example whose name now points at
    127.0.0.1 sends ``Host: evil.example``."""
    for url in ['/', '/audio/1', '/track/1']:
        r = client.get(url, headers={'Host': host})
        assert r.status_code == 400 and b'track' not in r.content
    assert client.get('/', headers={'Host': 'localhost:8765'}) \
        .status_code == 200


def test_a_stored_file_gone_from_disk_is_404(client, library):
    db, ids, tracks = library
    path = db.parent / 'music' / 'track07.wav'
    path.unlink()
    assert client.get('/audio/{}'.format(ids[str(path)])).status_code == 404


def test_requests_leave_the_store_as_it_was(library):
    db, ids, tracks = library
    with sqlite3.connect(db) as conn:  # a writer's last close: no WAL left
        conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()
    before = db.read_bytes(), os.stat(db).st_mtime_ns
    app = web_app.build_app(db)
    with TestClient(app, base_url='http://localhost') as client:
        for url in ['/', '/?tag=rock&min=0.2&sort=jazz', '/track/1',
                    '/audio/2', '/?page=2&size=3', '/track/1/similar']:
            assert client.get(url).status_code == 200
        client.get('/audio/3', headers={'Range': 'bytes=0-9'})
    assert (db.read_bytes(), os.stat(db).st_mtime_ns) == before
    wal = Path(str(db) + '-wal')
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_store_is_opened_read_only(library):
    db = library[0]
    view = open_view(db)
    try:
        conn = view._conn()
        with pytest.raises(sqlite3.OperationalError, match='readonly'):
            conn.execute('PRAGMA query_only = OFF')
            conn.execute("DELETE FROM files")
        conn.close()
    finally:
        view.close()


def _other_schema(path):
    conn = sqlite3.connect(path)
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = {}'.format(LIBRARY_SCHEMA_VERSION))
    conn.execute('CREATE TABLE songs (path TEXT)')
    conn.commit()
    conn.close()


def _newer(path):
    conn = sqlite3.connect(path)
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = {}'.format(
        LIBRARY_SCHEMA_VERSION + 1))
    conn.execute('CREATE TABLE x (y)')
    conn.commit()
    conn.close()


def _older(path):
    """A whole library of the schema before this one (which ``tag --db``
    would migrate, and ``serve`` must not)."""
    version = LIBRARY_SCHEMA_VERSION - 1
    conn = sqlite3.connect(path)
    for statement in SCHEMAS[version]:
        conn.execute(statement)
    conn.execute('PRAGMA application_id = {}'.format(LIBRARY_APPLICATION_ID))
    conn.execute('PRAGMA user_version = {}'.format(version))
    conn.commit()
    conn.close()


def _foreign(path):
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE songs (path TEXT)')
    conn.commit()
    conn.close()


@pytest.mark.parametrize('make, words', [
    (None, 'no library there'),
    (lambda p: p.write_bytes(b''), 'no library there'),
    (lambda p: p.write_text('not a database'), 'not an SQLite database'),
    (_foreign, "another program's SQLite database"),
    (_other_schema, "its tables are not that schema's"),
    (_newer, 'written by a newer chainer-tagger'),
    (_older, 'open it once with `chainer-tagger tag --db '),
    (lambda p: p.mkdir(), 'is a folder'),
])
def test_a_store_it_cannot_read_is_one_line_at_start(tmp_path, capsys, make,
                                                     words):
    db = tmp_path / 'x.db'
    if make is not None:
        make(db)
    before = sorted(os.listdir(tmp_path))
    stamp = db.stat().st_mtime_ns if db.is_file() else None
    with pytest.raises(LibraryStoreError, match=words):
        web_app.build_app(db)
    assert main(['serve', '--db', str(db), '--port', '0']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: --db ')
    assert words in err
    assert sorted(os.listdir(tmp_path)) == before  # nothing made
    assert stamp == (db.stat().st_mtime_ns if db.is_file() else None)


def _start(args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'chainer_tagger.cli', 'serve'] + args,
        stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith('serving') or line.startswith('error'):
            break
    proc.terminate()
    proc.wait(30)
    return lines


def test_binds_this_machine_unless_told_and_then_warns(library):
    db = str(library[0])
    lines = _start(['--db', db, '--port', '0'])
    assert len(lines) == 1, lines
    assert lines[0].startswith('serving {} read-only at '
                               'http://127.0.0.1:'.format(db))
    lines = _start(['--db', db, '--port', '0', '--host', 'localhost'])
    assert lines[0].startswith('warning: listening on localhost rather '
                               'than 127.0.0.1: whoever can reach')
    assert lines[1].startswith('serving {} read-only at http://localhost:'
                               .format(db))


def test_similar_lists_the_contracts_rows(client, library, monkeypatch):
    db, ids, tracks = library
    path = str(db.parent / 'music' / 'track01.wav')
    other = str(db.parent / 'music' / (XSS + '.mp3'))
    calls = []

    def fake(db_path, file_id, k=10, read_only=False):
        calls.append((db_path, file_id, k, read_only))
        return [{'file_id': ids[other], 'path': other, 'similarity': 0.875}]
    monkeypatch.setattr(web_app, 'similar_to_stored', fake)
    text = client.get('/track/{}/similar'.format(ids[path])).text
    assert calls == [(str(db), ids[path], 10, True)]
    assert '0.875' in text and 'data-src="/audio/{}"'.format(ids[other]) \
        in text
    assert '<script>alert' not in text
    assert client.get('/track/999/similar').status_code == 404


def test_similar_without_embeddings_is_a_one_line_notice(client, library):
    text = client.get('/track/1/similar').text
    notice = text.split('<p class="notice" id="similar-notice">')[1]
    notice = notice.split('</p>')[0]
    assert 'no embeddings by' in notice and '\n' not in notice


def test_more_like_this_opens_the_store_read_only(library, monkeypatch):
    """The similarity index is built from the store's embeddings through
    ``mode=ro`` connections only (the similarity API's own, too), and
    nothing is written beside the store."""
    db, ids, tracks = library
    rng = np.random.RandomState(0)
    with LibraryStore(db) as store:
        model = store.model_id(ModelIdentity('emb', '1' * 64, {}, {}))
        store.put_embeddings(model, [
            (p.encode('utf-8', 'surrogateescape'),
             FileIdentity(1, 1, None), rng.rand(6).astype('<f4').tobytes())
            for p in tracks])
    with sqlite3.connect(db) as conn:  # a writer's last close: no WAL left
        conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()
    before = files_beside(db), db.read_bytes()
    opened = []
    connect = sqlite3.connect

    def recording(database, *args, **kwargs):
        opened.append((str(database), kwargs.get('uri', False)))
        return connect(database, *args, **kwargs)
    monkeypatch.setattr(sqlite3, 'connect', recording)
    with TestClient(web_app.build_app(db),
                    base_url='http://127.0.0.1:8765') as client:
        opened.clear()  # from here on: the request alone
        text = client.get('/track/{}/similar'.format(ids[str(
            db.parent / 'music' / 'track03.wav')])).text
    assert 'id="similar-notice"' not in text
    assert len(listed(text)) == 10  # WEB_SIMILAR of the 12 others
    assert opened, 'the route opened no connection'
    assert all(uri and name.endswith('?mode=ro') for name, uri in opened), \
        opened
    # No index saved beside it (SQLite's own -wal and -shm aside: a
    # reader of a WAL database may leave them, the WAL empty).
    assert (files_beside(db), db.read_bytes()) == before
    wal = Path(str(db) + '-wal')
    assert not wal.exists() or wal.stat().st_size == 0


def files_beside(db):
    return sorted(n for n in os.listdir(db.parent)
                  if not n.endswith(('-wal', '-shm')))
