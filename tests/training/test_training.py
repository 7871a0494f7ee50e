"""Training on Chainer's Trainer: a few steps on a tiny set, evaluation,
embeddings, and an interrupted run resumed exactly."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.training import classification_report

from gtzan_fixture import make_tiny_gtzan

pytestmark = pytest.mark.shared


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return make_tiny_gtzan(tmp_path_factory.mktemp('tiny'))


@pytest.fixture(scope='module')
def trained(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp('run')
    assert main(['train', '--model', 'music2vec', '--data', str(tiny),
                 '--epochs', '2', '--batch-size', '3', '--test-fraction',
                 '0.25', '--out', str(out), '--no-progress',
                 '--optimizer', 'adam', '--lr', '1e-3']) == 0
    return out


def test_training_writes_log_plots_snapshots_and_best_model(trained):
    for name in ('best_model.npz', 'model.npz', 'log', 'loss.png',
                 'accuracy.png', 'run.json', 'embeddings_before.npy',
                 'embeddings_after.npy', 'embeddings_pca.png',
                 'embeddings_tsne.png'):
        assert (trained / name).is_file(), name
    log = json.loads((trained / 'log').read_text())
    assert [e['epoch'] for e in log] == [1, 2]
    assert all(np.isfinite(e['main/loss']) for e in log)
    assert 'validation/main/accuracy' in log[-1]
    snapshots = sorted(p.name for p in trained.glob('snapshot_iter_*'))
    assert snapshots == ['snapshot_iter_2', 'snapshot_iter_4']
    before = np.load(trained / 'embeddings_before.npy')
    after = np.load(trained / 'embeddings_after.npy')
    assert before.shape == after.shape == (8, 401 * 8)
    assert np.abs(before - after).max() > 0  # the SoundNet body trained


def test_evaluate_reports_metrics_like_scikit_learn(trained, tiny, capsys):
    from sklearn.metrics import f1_score
    assert main(['evaluate', '--model', str(trained / 'best_model.npz'),
                 '--data', str(tiny), '--no-progress']) == 0
    assert 'accuracy' in capsys.readouterr().out
    report = json.loads((trained / 'evaluation.json').read_text())
    assert (trained / 'confusion.png').is_file()
    assert report['n_clips'] == 2  # the held-out quarter: 1 per genre
    names = report['labels']
    truth = [names.index(p.split('/')[-2]) for p in report['clips']]
    pred = [names.index(p) for p in report['predicted']]
    assert report['accuracy'] == np.mean(np.equal(truth, pred))
    assert report['weighted']['f1'] == pytest.approx(
        f1_score(truth, pred, average='weighted',
                 labels=range(len(names)), zero_division=0))
    assert np.sum(report['confusion_matrix']) == 2


def test_classification_report_weighting():
    names = ['a', 'b', 'c']
    r = classification_report([0, 0, 0, 1], [0, 0, 1, 1], names)
    assert r['accuracy'] == 0.75
    assert r['per_class']['a'] == {'precision': 1.0, 'recall': 2 / 3,
                                   'f1': 0.8, 'support': 3}
    # weighted by support: (3 * 0.8 + 1 * 2/3) / 4
    assert r['weighted']['f1'] == pytest.approx((3 * 0.8 + 2 / 3) / 4)
    assert r['confusion_matrix'] == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_embed_command(trained, tiny, tmp_path):
    out = tmp_path / 'emb.npy'
    assert main(['embed', '--model', str(trained / 'model.npz'), '--data',
                 str(tiny), '-o', str(out), '--no-progress']) == 0
    np.testing.assert_allclose(np.load(out),
                               np.load(trained / 'embeddings_after.npy'),
                               rtol=1e-4, atol=1e-4)
    assert (tmp_path / 'emb_pca.png').is_file()
    assert (tmp_path / 'emb_tsne.png').is_file()
    rows = (tmp_path / 'emb.csv').read_text().splitlines()
    assert rows[0] == 'row,path,genre' and len(rows) == 9


def _train_cmd(data, out, extra=()):
    return [sys.executable, '-m', 'chainer_tagger.cli', 'train', '--model',
            'music2vec', '--data', str(data), '--epochs', '2',
            '--batch-size', '2', '--test-fraction', '0.25', '--dropout', '0',
            '--snapshot-every', '1', '--no-progress', '--no-embeddings',
            '--out', str(out)] + list(extra)


def _params(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != '_meta'}


@pytest.mark.slow
def test_killed_run_resumes_exactly(tiny, tmp_path):
    """SIGKILL in the middle of the first epoch, then --resume: the final
    weights equal those of an uninterrupted run with the same seed."""
    full = tmp_path / 'full'
    subprocess.run(_train_cmd(tiny, full), check=True, capture_output=True)

    cut = tmp_path / 'cut'
    proc = subprocess.Popen(_train_cmd(tiny, cut), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (cut / 'snapshot_iter_2').exists():
        assert proc.poll() is None, 'training ended before the kill'
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / 'model.npz').exists()  # it did not finish
    # 6 training clips, batch 2: 3 iterations an epoch; killed in epoch 1.
    subprocess.run(_train_cmd(tiny, cut, ['--resume']), check=True,
                   capture_output=True)
    log = json.loads((cut / 'log').read_text())
    assert [e['iteration'] for e in log] == [3, 6]
    a, b = _params(full / 'model.npz'), _params(cut / 'model.npz')
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6,
                                   err_msg=k)


def test_fine_tune_crnn_to_genres(tiny, tmp_path):
    """Transfer learning like jsalbert's: crnn-msd with a new 10-genre top."""
    out = tmp_path / 'ft'
    assert main(['train', '--model', 'crnn-msd', '--data', str(tiny),
                 '--epochs', '1', '--batch-size', '3', '--test-fraction',
                 '0.25', '--out', str(out), '--no-progress']) == 0
    from chainer_tagger.models import load_model
    model = load_model(str(out / 'model.npz'))
    assert model.output.W.shape == (10, 32)
    assert model.tags[0] == 'blues'
    # The conv weights started from crnn-msd's.
    base = load_model('crnn-msd')
    assert np.abs(model.block1.conv.W.array -
                  base.block1.conv.W.array).max() < 0.05


def test_frozen_soundnet_trains_the_head_on_cached_outputs(tiny, tmp_path):
    out = tmp_path / 'frozen'
    assert main(['train', '--model', 'music2vec', '--data', str(tiny),
                 '--epochs', '2', '--batch-size', '3', '--test-fraction',
                 '0.25', '--out', str(out), '--no-progress',
                 '--freeze-soundnet', '--optimizer', 'adam', '--lr',
                 '1e-2']) == 0
    from chainer_tagger.models import SoundNet8
    from chainer_tagger.models import load_model
    trained = load_model(str(out / 'model.npz'))
    pretrained = SoundNet8(pretrained_model='soundnet8')
    for (name, a), (_, b) in zip(sorted(trained.soundnet.namedparams()),
                                 sorted(pretrained.namedparams())):
        np.testing.assert_array_equal(a.array, b.array, err_msg=name)
    np.testing.assert_array_equal(trained.soundnet.bn1.avg_mean,
                                  pretrained.bn1.avg_mean)
    assert trained.settings['freeze_soundnet'] is True
    # The head did train: its weights moved away from the seeded start.
    from chainer_tagger.models import Music2Vec
    from chainer_tagger.training import seed_everything
    seed_everything(0)
    start = Music2Vec(freeze_soundnet=True, soundnet='soundnet8')
    assert np.abs(trained.fc1.W.array - start.fc1.W.array).max() > 1e-3
    assert len(json.loads((out / 'log').read_text())) == 2


def test_impossible_requests_are_clear_errors(tiny, tmp_path, capsys):
    assert main(['train', '--model', 'cnn-msd', '--data', str(tiny),
                 '--out', str(tmp_path / 'x'), '--no-progress']) == 2
    assert 'fine-tuning is for the CRNN taggers' in capsys.readouterr().err
    assert main(['train', '--data', str(tiny), '--resume', '--distributed',
                 '--out', str(tmp_path / 'y'), '--no-progress']) == 2
    assert '--resume is not supported with --distributed' in \
        capsys.readouterr().err
    assert main(['train', '--data', str(tmp_path / 'nothing'), '--out',
                 str(tmp_path / 'z'), '--no-progress']) == 2
    assert 'no such folder' in capsys.readouterr().err
