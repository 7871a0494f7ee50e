"""What a training run keeps and refuses: small snapshots written
atomically, one run per output folder, the probe on the requested device,
evaluations of several data sets side by side, data it cannot learn
from."""
import hashlib
import json
import shutil

import numpy as np
import pytest

import chainer

from chainer_tagger.cli import main
from chainer_tagger.models import LinearProbe, Music2Vec
from chainer_tagger.pretrained.model_file import open_npz
from chainer_tagger.training import RECIPES, evaluate
from chainer_tagger.training import trainer as trainer_module
from chainer_tagger.training.inputs import FrozenBodyOutputs
from chainer_tagger.training.snapshots import (FROZEN_BODY_KEY,
                                               latest_snapshot, links_sha256,
                                               snapshots, write_snapshot)

from gtzan_fixture import make_tiny_gtzan
from trained_runs import TRAIN_ARGS

pytestmark = pytest.mark.shared

MB = 1e6


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _head_bytes():
    """Bytes of music2vec's trainable weights (everything but SoundNet:
    the recipe's heads)."""
    net = Music2Vec(soundnet=None, heads=RECIPES['music2vec']['heads'])
    return sum(p.array.nbytes for name, p in net.namedparams()
               if not name.startswith('/soundnet/'))


# -- Snapshots (issue 19) --------------------------------------------------

def test_frozen_body_snapshots_hold_only_what_changes(trained):
    """3 epochs of 2 iterations: the last 2 snapshots are kept, each the
    trainable weights, their two Adam moments and their running mean and
    little else (24 MB a head, where the whole trainer with SoundNet and
    its moments took 190 MB for one head); the frozen SoundNet is its
    sha256."""
    kept = [p.name for _, p in snapshots(trained)]
    assert kept == ['snapshot_iter_4', 'snapshot_iter_6']
    assert not list(trained.glob('.partial-*'))
    for name in kept:
        size = (trained / name).stat().st_size
        # The heads' size decides: 6 MB of weights a head, their 2 Adam
        # moments and the running mean of the weights (weight averaging).
        assert size < 25 * MB * RECIPES['music2vec']['heads'], (name, size)
        assert size < 4 * _head_bytes() + 1 * MB, (name, size)
    with open_npz(trained / 'snapshot_iter_6') as npz:
        assert not [k for k in npz.files if '/soundnet/' in k]
        assert 'updater/model:main/predictor/model/fc1/W' in npz.files
        assert 'updater/optimizer:main/predictor/model/fc1/W/m' in npz.files
        assert 'extensions/save_best/best_epoch' in npz.files
        assert 'extensions/random_state/keys' in npz.files
        recorded = str(npz[FROZEN_BODY_KEY])
    assert recorded == links_sha256([Music2Vec(soundnet='soundnet8')
                                     .soundnet])


def test_a_snapshot_of_another_frozen_body_is_refused(trained, tiny,
                                                      tmp_path, capsys):
    out = tmp_path / 'run'
    shutil.copytree(trained, out)
    path = latest_snapshot(out)
    with open_npz(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[FROZEN_BODY_KEY] = np.array('0' * 64)
    with open(path, 'wb') as f:
        np.savez(f, **arrays)
    args = ['train', '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS
    args[args.index('--epochs') + 1] = '4'
    assert main(args + ['--resume']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'frozen body of sha256 0000' in err
    assert [e['epoch'] for e in json.loads((out / 'log').read_text())] == \
        [1, 2, 3]


def test_snapshots_are_written_whole_and_only_the_latest_two_kept(
        tmp_path, monkeypatch):
    for it in (1, 2, 3):
        write_snapshot(tmp_path / 'snapshot_iter_{}'.format(it),
                       {'a': np.full(1000, it)})
    assert [p.name for _, p in snapshots(tmp_path)] == [
        'snapshot_iter_2', 'snapshot_iter_3']
    real_savez = np.savez

    def killed(f, **arrays):  # half a file written, then the end
        f.write(b'PK\x03\x04 half a snapshot')
        raise KeyboardInterrupt
    monkeypatch.setattr(np, 'savez', killed)
    with pytest.raises(KeyboardInterrupt):
        write_snapshot(tmp_path / 'snapshot_iter_4', {'a': np.zeros(1000)})
    monkeypatch.setattr(np, 'savez', real_savez)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'snapshot_iter_2', 'snapshot_iter_3']
    with open_npz(latest_snapshot(tmp_path)) as npz:
        assert (npz['a'] == 3).all()


# -- One run per output folder (issue 20) -------------------------------------

def test_a_folder_of_another_run_is_refused_before_any_work(trained, tiny,
                                                            tmp_path,
                                                            capsys):
    """Training into a folder that holds a run (its best model, snapshots)
    overwrites nothing: without --resume it is refused, and --resume with
    other settings or data is refused naming what differs."""
    out = tmp_path / 'run'
    shutil.copytree(trained, out)
    before = {p.name: _sha256(p) for p in out.iterdir()}
    other = make_tiny_gtzan(tmp_path / 'other', per_genre=5)
    base = ['train', '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS
    for extra, message in [
            ([], 'already holds this run'),
            (['--seed', '1'], 'seed 0 (this run: 1)'),
            (['--resume', '--seed', '1'], 'seed 0 (this run: 1)'),
            (['--resume', '--lr', '0.0123'], 'lr {} (this run: 0.0123)'
             .format(json.dumps(RECIPES['music2vec']['lr']))),
            (['--resume', '--dropout', '0.55'], 'dropout {} (this run: 0.55)'
             .format(json.dumps(RECIPES['music2vec']['dropout']))),
            (['--resume', '--train-body'], 'train_body false (this run: '
                                           'true)'),
            (['--resume', '--data', str(other)],
             'the data: clips 2 added (e.g. blues/blues.00004.wav)'),
            (['--model', 'probe', '--features', 'soundnet8'],
             'model "music2vec" (this run: "probe")')]:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and err.count('\n') == 1, (extra, err)
        assert {p.name: _sha256(p) for p in out.iterdir()} == before


def test_a_run_recorded_before_training_gains_resumes_without_them(
        trained, tiny, tmp_path):
    """A run begun before the recipe had training gains (its record has no
    ``training_gains_db``) is continued as it began, without them; it
    was refused as "another run"."""
    out = tmp_path / 'run'
    shutil.copytree(trained, out)
    record = out / 'run_settings.json'
    stored = json.loads(record.read_text())
    del stored['settings']['training_gains_db']
    record.write_text(json.dumps(stored))
    args = ['train', '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS
    epochs = args.index('--epochs') + 1
    args[epochs] = '4'
    assert main(args + ['--resume']) == 0
    with open((out / 'run.json')) as f:
        assert json.load(f)['training']['training_gains_db'] == []
    assert 'training_gains_db' not in json.loads(
        record.read_text())['settings']


def test_resume_without_a_snapshot_says_it_starts_fresh(tiny, tmp_path,
                                                        capsys):
    out = tmp_path / 'fresh'
    args = ['train', '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS
    args[args.index('--epochs') + 1] = '1'
    assert main(args + ['--resume']) == 0
    err = capsys.readouterr().err
    assert 'warning: --resume: no snapshot in {}: starting a fresh ' \
        'run\n'.format(out) in err
    assert [e['epoch'] for e in json.loads((out / 'log').read_text())] == [1]


def test_progress_bar_counts_the_runs_iterations_on_stderr(tiny, tmp_path,
                                                           capsys):
    # The bar once reached stderr only through a private attribute of
    # Chainer's ProgressBar; stdout is for results alone.
    out = tmp_path / 'bar'
    args = ['train', '--data', str(tiny), '--out', str(out), '--progress'] \
        + [a for a in TRAIN_ARGS if a != '--no-progress']
    args[args.index('--epochs') + 1] = '2'
    assert main(args) == 0
    captured = capsys.readouterr()
    assert 'training' not in captured.out and '\033[J' not in captured.out
    log = json.loads((out / 'log').read_text())
    iterations = log[-1]['iteration']
    assert '{0}/{0}'.format(iterations) in captured.err
    # The epoch lines are whole lines above the bar.
    lines = captured.err.replace('\r', '\n').split('\n')
    assert sum(line.split()[:1] == ['2'] for line in lines) == 1
    assert '\033[J' not in captured.err


# -- The probe on the requested device ---------------------------------------

def test_probe_refuses_a_gpu_it_cannot_use(tiny, tmp_path, capsys,
                                           monkeypatch):
    monkeypatch.setattr(chainer.backends.cuda, 'available', False)
    out = tmp_path / 'never'
    assert main(['train', '--model', 'probe', '--features', 'soundnet8',
                 '--data', str(tiny), '--out', str(out), '--gpu', '0',
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'error: --gpu 0 asks for CUDA' in err
    assert not out.exists()


class _FakeGpu:
    """Stands for a GPU device; the spy below keeps the arrays on the
    CPU."""

    def __repr__(self):
        return '<fake GPU 1>'


def test_probe_features_are_computed_on_the_requested_device(
        tmp_path, monkeypatch, capsys):
    """``--gpu 1``: the device is checked (get_device(1)), the feature
    model is on it while every clip's features are computed (a fresh
    folder: nothing cached), and the probe is fitted."""
    data = make_tiny_gtzan(tmp_path / 'data')
    fake = _FakeGpu()
    asked, events = [], []

    def get_device(gpu):
        asked.append(gpu)
        return fake
    monkeypatch.setattr(trainer_module, 'get_device', get_device)
    to_device = LinearProbe.to_device

    def spy_to_device(self, device):
        events.append(('to_device', device))
        return to_device(self, '@numpy')
    monkeypatch.setattr(LinearProbe, 'to_device', spy_to_device)
    feature = FrozenBodyOutputs.feature

    def spy_feature(self, path):
        events.append('feature')
        return feature(self, path)
    monkeypatch.setattr(FrozenBodyOutputs, 'feature', spy_feature)
    out = tmp_path / 'probe'
    assert main(['train', '--model', 'probe', '--features', 'soundnet8',
                 '--data', str(data), '--out', str(out), '--gpu', '1',
                 '--test-fraction', '0.25', '--windows', '2',
                 '--no-progress']) == 0
    assert asked == [1]
    assert events == [('to_device', fake)] + ['feature'] * 8
    assert (out / 'best_model.npz').is_file()
    # Every clip (2 s: mostly repeats in SoundNet's window) said once.
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines()
             if line.startswith('warning: training clip ')]
    assert len(lines) == 8
    assert lines[0].startswith('warning: training clip '
                               'blues/blues.00000.wav: 2.0 s of audio: '
                               'repeated to fill')


# -- Evaluations of several data sets -----------------------------------------

def test_evaluations_of_several_folders_live_side_by_side(trained, tiny,
                                                          tmp_path):
    """evaluate on the training folder, then on another: each has its own
    evaluation-<folder>-<split>.json and confusion-…png; another folder of
    the same name gets the next free name, and evaluating a folder again
    replaces its own files."""
    out = tmp_path / 'evaluations'
    model = str(trained / 'best_model.npz')
    other = make_tiny_gtzan(tmp_path / 'other', per_genre=3)
    same_name = make_tiny_gtzan(tmp_path / 'elsewhere' / 'other')
    first = evaluate(model, str(tiny), out=str(out), progress=False)
    second = evaluate(model, str(other), out=str(out), progress=False)
    third = evaluate(model, str(same_name), out=str(out), progress=False)
    again = evaluate(model, str(other), out=str(out), progress=False)
    names = {p.name for p in out.iterdir()}
    assert names == {
        'evaluation-{}-held-out.json'.format(tiny.name),
        'confusion-{}-held-out.png'.format(tiny.name),
        'evaluation-other-all.json', 'confusion-other-all.png',
        'evaluation-other-all-2.json', 'confusion-other-all-2.png'}
    assert again['files'] == second['files']
    for report, clips in ((first, 2), (second, 6), (third, 8)):
        stored = json.loads(open(report['files'][0]).read())
        assert stored['n_clips'] == clips
        assert stored['data'] == report['data']
        assert stored['model'] == str(trained / 'best_model.npz')


# -- Data a classifier cannot learn from (issue 20) ---------------------------

def test_a_folder_of_one_genre_is_refused(tmp_path, capsys):
    data = make_tiny_gtzan(tmp_path / 'data', genres=('blues',))
    out = tmp_path / 'out'
    assert main(['train', '--data', str(data), '--out', str(out),
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert 'needs clips of at least 2 genres; this folder has blues' in err
    assert not out.exists()
