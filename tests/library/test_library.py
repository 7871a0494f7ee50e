"""Tagging a library with a store: resumable, nothing recomputed, nothing
duplicated; the output of a run with ``--db`` is a plain run's output."""
import contextlib
import json
import os
import re
import sqlite3

import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.configuration import (LIBRARY_APPLICATION_ID,
                                          LIBRARY_SCHEMA_VERSION)
from chainer_tagger.errors import LibraryStoreError, UsageError
from chainer_tagger.inference import tag
from chainer_tagger.library.runner import LibraryRun, tag_library
from chainer_tagger.library.store import LibraryStore
from chainer_tagger.models import MusicTaggerCNN, load_model
from chainer_tagger.pretrained import save_model_npz

from library_fixture import make_library, make_tiny_model, write_clip


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


@pytest.fixture
def counting_model(model_file, monkeypatch):
    """The tiny model, loaded, counting the clips it tags."""
    model = load_model(str(model_file))
    model.clips = 0
    predict = model.predict

    def counted(x, batch_size=None):
        model.clips += len(x)
        return predict(x, batch_size)
    model.predict = counted
    return model


def rows(db):
    """``(path, model id)`` of every stored result."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            'SELECT files.path, model_id FROM results JOIN files ON '
            'files.id = file_id').fetchall()


def _numbers_apart(text):
    """The text with each number replaced by a mark, and the numbers."""
    pattern = r'-?\d+\.\d+(?:e-?\d+)?'
    return re.sub(pattern, '#', text), [float(x) for x in re.findall(
        pattern, text)]


def same_report(a, b, fmt):
    """Two reports equal but for scores within 1e-5."""
    (text_a, numbers_a), (text_b, numbers_b) = map(_numbers_apart, (a, b))
    return text_a == text_b and len(numbers_a) > 0 and np.allclose(
        numbers_a, numbers_b, rtol=0, atol=1e-5)


def run_cli(args, capsys):
    status = main(args + ['--no-progress'])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize('fmt', ['json', 'csv'])
def test_db_output_is_the_plain_output_new_and_reused(tmp_path, model_file,
                                                      capsys, fmt):
    lib = tmp_path / 'lib'
    make_library(lib, 9, exts=('wav', 'flac'))
    (lib / 'broken.wav').write_bytes(b'RIFF\x00\x00broken')
    common = ['tag', str(lib), '-m', str(model_file), '-f', fmt, '-b', '4']
    plain = run_cli(common, capsys)
    db = str(tmp_path / 'lib.db')
    fresh = run_cli(common + ['--db', db], capsys)
    reused = run_cli(common + ['--db', db], capsys)
    assert plain[0] == fresh[0] == reused[0] == 1  # broken.wav failed
    # Reused results are printed exactly as they were when new ...
    assert fresh[1] == reused[1]
    # ... which is a plain run's output, up to the last bits of the scores
    # (two plain runs differ as much: the melgrams are resampled on
    # threads while BLAS is limited to one thread by the model's batch,
    # or not, and OpenBLAS rounds differently).
    assert same_report(plain[1], fresh[1], fmt)
    assert '10 files: 0 reused, 10 tagged' in fresh[2]
    assert '10 files: 10 reused, 0 tagged' in reused[2]
    # The warnings and the error are printed again for reused results.
    assert fresh[2].count('warning:') == reused[2].count('warning:') == 9
    # -o gets the same text.
    out = tmp_path / ('out.' + fmt)
    run_cli(common + ['--db', db, '-o', str(out)], capsys)
    assert out.read_text() == fresh[1]
    if fmt == 'json':
        results = json.loads(plain[1])
        assert len(results) == 10 and 'error' in results[0]  # broken.wav
        assert all(len(r['tags']) == 5 for r in results[1:])


def test_a_rerun_tags_nothing_and_stores_each_file_once(tmp_path,
                                                        counting_model):
    lib = tmp_path / 'lib'
    make_library(lib, 7)
    db = tmp_path / 'lib.db'
    first = tag_library([lib], counting_model, db=db, batch_size=3)
    assert counting_model.clips == 7
    counting_model.clips = 0
    with LibraryRun([lib, lib / 'track000.wav'], counting_model,
                    db=db, batch_size=3) as run:
        summary = run.tag()
        again = list(run.results())
    assert counting_model.clips == 0
    assert (summary.files, summary.reused, summary.tagged) == (7, 7, 0)
    assert again[:7] == first
    assert again[7] == first[0] and len(again) == 8  # a duplicate input
    stored = rows(db)
    assert len(stored) == len(set(stored)) == 7


def test_a_replaced_file_is_tagged_again(tmp_path, counting_model):
    lib = tmp_path / 'lib'
    paths = make_library(lib, 5)
    db = tmp_path / 'lib.db'
    before = tag_library([lib], counting_model, db=db)
    write_clip(paths[2], seed=99, seconds=2.0)  # another song, same name
    counting_model.clips = 0
    after = tag_library([lib], counting_model, db=db)
    assert counting_model.clips == 1
    assert after[2] != before[2]
    assert after[2] == tag([paths[2]], counting_model)[0]
    assert [a for i, a in enumerate(after) if i != 2] == \
        [b for i, b in enumerate(before) if i != 2]
    assert len(rows(db)) == 5


def test_rehash_catches_a_file_replaced_with_the_same_size_and_mtime(
        tmp_path, counting_model):
    lib = tmp_path / 'lib'
    paths = make_library(lib, 4)
    db = tmp_path / 'lib.db'
    tag_library([lib], counting_model, db=db)
    # First --rehash run: hashes recorded, nothing tagged again.
    counting_model.clips = 0
    tag_library([lib], counting_model, db=db, rehash=True)
    assert counting_model.clips == 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('SELECT count(*) FROM results WHERE sha256 IS '
                            'NOT NULL').fetchone() == (4,)
    # Same size and mtime, other content (as cp -p of another take).
    st = os.stat(paths[1])
    write_clip(paths[1], seed=123)
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.path.getsize(paths[1]) == st.st_size
    tag_library([lib], counting_model, db=db)
    assert counting_model.clips == 0  # size and mtime fooled it
    tag_library([lib], counting_model, db=db, rehash=True)
    assert counting_model.clips == 1


def test_errors_are_kept_unless_retried(tmp_path, counting_model):
    lib = tmp_path / 'lib'
    make_library(lib, 3)
    (lib / 'bad.wav').write_bytes(b'RIFF\x00\x00broken')
    db = tmp_path / 'lib.db'
    first = tag_library([lib], counting_model, db=db)
    assert 'error' in first[0]  # bad.wav sorts first
    calls = []
    original = LibraryRun._keep

    def spy(self, indices, results, *embeddings):
        calls.extend(r['path'] for r in results)
        return original(self, indices, results, *embeddings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LibraryRun, '_keep', spy)
        assert tag_library([lib], counting_model, db=db) == first
        assert calls == []
        assert tag_library([lib], counting_model, db=db,
                           retry_errors=True) == first
        assert calls == [str(lib / 'bad.wav')]


def test_each_window_setting_has_its_own_entries(tmp_path, counting_model):
    lib = tmp_path / 'lib'
    make_library(lib, 3)
    db = tmp_path / 'lib.db'
    centre = tag_library([lib], counting_model, db=db)
    full = tag_library([lib], counting_model, db=db, window='full',
                       hop=0.5)
    assert all(r['windows'] == 1 and r['hop'] == 0.5 for r in full)
    kept = tag_library([lib], counting_model, db=db,
                       decoder_delay='keep')  # other inputs (for mp3s)
    assert len(kept) == 3
    counting_model.clips = 0
    assert tag_library([lib], counting_model, db=db) == centre
    assert tag_library([lib], counting_model, db=db, window='full',
                       hop=0.5) == full
    assert counting_model.clips == 0
    assert len(rows(db)) == 9


def test_a_batch_dependent_model_is_refused(tmp_path):
    path = tmp_path / 'cnn0.npz'
    model = MusicTaggerCNN(tags=['a', 'b'], bn_mode=2)
    save_model_npz(path, model, {'arch': 'cnn', 'name': None,
                                 'settings': model.settings})
    with pytest.raises(UsageError, match='--per-clip'):
        LibraryRun([tmp_path], str(path), db=tmp_path / 'x.db')
    with LibraryRun([tmp_path], str(path), db=tmp_path / 'x.db',
                    per_clip=True):
        pass


def test_the_store_says_what_it_is(tmp_path):
    db = tmp_path / 'new' / 'lib.db'
    with LibraryStore(db):
        pass
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('PRAGMA application_id').fetchone()[0] == \
            LIBRARY_APPLICATION_ID
        assert conn.execute('PRAGMA user_version').fetchone()[0] == \
            LIBRARY_SCHEMA_VERSION
        assert conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'


def test_a_database_is_created_whole_and_never_replaced(tmp_path):
    from chainer_tagger.library.file_identity import FileIdentity
    from chainer_tagger.library.store import (ModelIdentity,
                                              create_database)
    db = tmp_path / 'lib.db'
    db.write_bytes(b'')  # an empty file is no database yet
    # (A killed creator's leftovers: test_library_hardening.py.)
    with LibraryStore(db) as store:
        m = store.model_id(ModelIdentity('m', 'ab' * 32, {}, {}))
        store.put(m, [(b'/a', FileIdentity(1, 2, None),
                       {'path': 'a', 'model': 'm', 'error': 'x'})])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lib.db']
    # Another process creating it at the same moment keeps this one.
    create_database(db)
    assert len(rows(db)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lib.db']


def _sqlite_file(path, application_id=0, user_version=0):
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE songs (title TEXT)')
    conn.execute("INSERT INTO songs VALUES ('x')")
    conn.execute('PRAGMA application_id = {}'.format(application_id))
    conn.execute('PRAGMA user_version = {}'.format(user_version))
    conn.commit()
    conn.close()


@pytest.mark.parametrize('kind,message', [
    ('text', 'not an SQLite database'),
    ('foreign', "another program's SQLite database"),
    ('newer', 'written by a newer chainer-tagger (library schema 99'),
])
def test_a_foreign_or_newer_database_is_refused_and_left_alone(
        tmp_path, model_file, capsys, kind, message):
    db = tmp_path / 'lib.db'
    if kind == 'text':
        db.write_text('my notes\n')
    elif kind == 'foreign':
        _sqlite_file(db, application_id=0x12345678)
    else:
        _sqlite_file(db, LIBRARY_APPLICATION_ID, 99)
    before = db.read_bytes()
    with pytest.raises(LibraryStoreError, match=re.escape(message)):
        LibraryStore(db)
    make_library(tmp_path / 'lib', 1)
    status, out, err = run_cli(['tag', str(tmp_path / 'lib'), '-m',
                                str(model_file), '--db', str(db)], capsys)
    assert status == 2 and out == ''
    assert err.count('\n') == 1 and message in err and 'left as it is' in err
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lib', 'lib.db']


def test_a_result_is_stored_once_whatever_is_put(tmp_path):
    from chainer_tagger.library.file_identity import FileIdentity
    from chainer_tagger.library.store import ModelIdentity
    with LibraryStore(tmp_path / 'lib.db') as store:
        m = store.model_id(ModelIdentity('m', 'ab' * 32, {'tags': ['x']},
                                         {'window': 'centre'}))
        assert m == store.model_id(ModelIdentity(
            'm', 'ab' * 32, {'tags': ['x']}, {'window': 'centre'}))
        one = {'path': 'a', 'model': 'm', 'warnings': [],
               'tags': [{'tag': 'x', 'score': 0.25}]}
        two = dict(one, tags=[{'tag': 'x', 'score': 0.5}])
        store.put(m, [(b'/a', FileIdentity(1, 2, None), one)])
        store.put(m, [(b'/a', FileIdentity(3, 4, None), two)])
        assert store.result(m, b'/a') == two
        entries = store.entries(m)
        assert entries[b'/a'].identity == FileIdentity(3, 4, None)
    assert len(rows(tmp_path / 'lib.db')) == 1


def test_library_options_need_their_mode(tmp_path, model_file, capsys):
    lib = tmp_path / 'lib'
    make_library(lib, 1)
    for extra, needs in [(['--rehash'], '--db'),
                         (['--retry-errors'], '--db'),
                         (['--write-genre'], '--write-tags'),
                         (['--dry-run'], '--write-tags')]:
        status, _, err = run_cli(['tag', str(lib), '-m', str(model_file)] +
                                 extra, capsys)
        assert status == 2 and needs in err and err.count('\n') == 1
    track = str(lib / 'track000.wav')
    status, _, err = run_cli(['tag', track, '-m', str(model_file),
                              '--db', track], capsys)
    assert status == 2 and '--db {}: is one of the inputs'.format(track) \
        in err


def test_results_agree_with_a_plain_run_to_float_rounding(tmp_path,
                                                          counting_model):
    """Batches of other sizes (a resumed run) change only the last bits:
    BLAS sums a batch in another order."""
    lib = tmp_path / 'lib'
    make_library(lib, 6)
    plain = tag([lib], counting_model, batch_size=6)
    other = tag_library([lib], counting_model, db=tmp_path / 'lib.db',
                        batch_size=4)
    assert [r['path'] for r in other] == [r['path'] for r in plain]
    a = np.array([[t['score'] for t in sorted(r['tags'],
                                              key=lambda t: t['tag'])]
                  for r in plain])
    b = np.array([[t['score'] for t in sorted(r['tags'],
                                              key=lambda t: t['tag'])]
                  for r in other])
    assert np.abs(a - b).max() < 1e-5
    assert a.std(axis=0).max() > 1e-3  # files differ far more than that


def test_other_weights_are_another_model(tmp_path, model_file):
    """Results are keyed by the sha256 of the weights: a retrained model
    under the same file name tags everything again."""
    from chainer_tagger.pretrained.cache import sha256sum
    lib = tmp_path / 'lib'
    make_library(lib, 2)
    db = tmp_path / 'lib.db'
    mine = tmp_path / 'tiny.npz'
    mine.write_bytes(model_file.read_bytes())
    model = load_model(str(mine))
    assert model.weights_sha256 == sha256sum(model_file)
    first = tag_library([lib], str(mine), db=db)
    make_tiny_model(mine, seed=1)  # same name, other weights
    with LibraryRun([lib], str(mine), db=db) as run:
        assert run.tag().tagged == 2
        second = list(run.results())
    assert second != first
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute('SELECT count(*) FROM models').fetchone() == (2,)


@pytest.mark.shared
def test_a_registry_model_is_identified_by_its_upstream_weights():
    from chainer_tagger.library.runner import model_identity
    from chainer_tagger.pretrained import registry
    model = load_model('cnn-msd')
    assert model.weights_sha256 in [
        f['sha256'] for f in registry.entry('cnn-msd')['files']]
    # Another Keras preset is another model (its scores differ).
    default = model_identity(model)
    other = model_identity(load_model('cnn-msd', keras='1.1-theano'))
    assert other.settings['keras'] == '1.1-theano' != \
        default.settings['keras']
    assert other.weights_sha256 == default.weights_sha256
    assert default.settings['precision'] == 'float32'


def test_one_progress_bar_counts_reused_tagged_and_failed(tmp_path,
                                                          model_file,
                                                          capsys):
    lib = tmp_path / 'lib'
    make_library(lib, 5)
    (lib / 'bad.wav').write_bytes(b'RIFF\x00\x00broken')
    db = str(tmp_path / 'lib.db')
    main(['tag', str(lib / 'track000.wav'), '-m', str(model_file), '--db',
          db])
    capsys.readouterr()
    main(['tag', str(lib), '-m', str(model_file), '--db', db, '--progress'])
    err = capsys.readouterr().err
    bars = [line for line in err.replace('\r', '\n').splitlines()
            if line.startswith('library:')]
    assert bars, err
    last = bars[-1]
    # files done, elapsed<ETA, rate (files/s, or s/file when slower)
    assert re.search(r' 6/6 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+'
                     r'(file/s|s/file), ', last), last
    assert 'reused 1, tagged 5, failed 1' in last
    assert not any(line.startswith('tagging') for line in err.splitlines())


def test_names_that_are_not_utf8_are_stored_and_printed_as_before(
        tmp_path, counting_model):
    lib = tmp_path / 'lib'
    lib.mkdir()
    name = os.fsdecode(b'caf\xe9.wav')
    os.rename(write_clip(lib / 'cafe.wav', seed=1), lib / name)
    db = tmp_path / 'lib.db'
    first = tag_library([lib], counting_model, db=db)
    assert first[0]['path'] == str(lib / name)
    assert any('not valid UTF-8' in w for w in first[0]['warnings'])
    counting_model.clips = 0
    assert tag_library([lib], counting_model, db=db) == first
    assert counting_model.clips == 0
