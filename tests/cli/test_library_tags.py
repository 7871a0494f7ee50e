"""``tag --db --write-tags``: tags land in the files, the store follows
the files it rewrote, and what must not be written is not."""
import json
import os

import pytest

from chainer_tagger.cli import main
from chainer_tagger.library import file_tags
from chainer_tagger.library.runner import LibraryRun
from chainer_tagger.models import load_model

from library_fixture import make_library, make_tiny_model, write_clip

FIELD = 'chainer-tagger:tiny'


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


def run(args, capsys):
    status = main(args + ['--no-progress'])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_write_tags_then_rerun_changes_nothing(tmp_path, model_file,
                                               capsys):
    lib = tmp_path / 'lib'
    paths = make_library(lib, 6, exts=('mp3', 'flac', 'wav'))
    db = str(tmp_path / 'lib.db')
    args = ['tag', str(lib), '-m', str(model_file), '--db', db, '-f', 'json',
            '--write-tags', '--write-genre', '--top', '3']
    before = {p: p.read_bytes() for p in paths}
    # The copy a run killed while it wrote tags left behind (unlocked).
    leftover = lib / '.partial-k1ll3d.mp3'
    leftover.write_bytes(b'half a song')
    status, out, err = run(args + ['--dry-run'], capsys)
    assert leftover.exists()  # a dry run removes nothing
    assert status == 0
    assert err.count('tags: would write') == 4  # mp3 and flac
    assert '4 would be written (dry run), 0 unchanged, 0 failed, ' \
        '2 skipped' in err
    assert all(p.read_bytes() == before[p] for p in paths)
    status, out, err = run(args, capsys)
    assert status == 0 and '4 written, 0 unchanged' in err
    assert not leftover.exists()
    results = {r['path']: r for r in json.loads(out)}
    for p in paths:
        if p.suffix == '.wav':
            assert p.read_bytes() == before[p]
            continue
        values, genre = file_tags.read_fields(p, FIELD)
        best = results[str(p)]['tags']
        assert file_tags.parse_values(values) == [
            (t['tag'], round(t['score'], 3)) for t in best[:3]]
        assert genre == [best[0]['tag']]
    # The rewritten files keep their entries: nothing is tagged again,
    # nothing written again.
    status, out_again, err = run(args, capsys)
    assert '6 files: 6 reused, 0 tagged' in err
    assert '0 written, 4 unchanged' in err
    assert out_again == out


def test_a_file_replaced_between_runs_is_tagged_and_written_again(
        tmp_path, model_file, capsys):
    lib = tmp_path / 'lib'
    paths = make_library(lib, 3, exts=('flac',))
    db = str(tmp_path / 'lib.db')
    args = ['tag', str(lib), '-m', str(model_file), '--db', db,
            '--write-tags']
    run(args, capsys)
    old = file_tags.read_fields(paths[1], FIELD)[0]
    write_clip(paths[1], seed=77, seconds=3.0)  # a new file, no tags
    status, _, err = run(args, capsys)
    assert status == 0
    assert '3 files: 2 reused, 1 tagged' in err
    assert '1 written, 2 unchanged' in err
    new = file_tags.read_fields(paths[1], FIELD)[0]
    assert new and new != old


def test_read_only_and_changed_files_are_reported_and_left(
        tmp_path, model_file, capsys):
    lib = tmp_path / 'lib'
    paths = make_library(lib, 3, exts=('mp3',))
    os.chmod(paths[0], 0o444)
    locked = paths[0].read_bytes()
    status, _, err = run(['tag', str(lib), '-m', str(model_file),
                          '--write-tags'], capsys)
    assert status == 1
    assert 'error: tags not written: {}: read-only (mode 0444)'.format(
        paths[0]) in err
    assert '2 written, 0 unchanged, 1 failed' in err
    assert paths[0].read_bytes() == locked
    # A file that changes after it was tagged, before its tags are
    # written, keeps its new content.
    model = load_model(str(model_file))
    with LibraryRun([lib], model, db=tmp_path / 'lib.db') as library:
        library.tag()
        write_clip(paths[2], seed=55)
        changed = paths[2].read_bytes()
        outcomes = {o.path: o for o in library.write_tags()}
    assert outcomes[paths[2]].status == 'failed'
    assert 'changed since it was tagged' in outcomes[paths[2]].reason
    assert paths[2].read_bytes() == changed
    assert outcomes[paths[1]].status == 'unchanged'
