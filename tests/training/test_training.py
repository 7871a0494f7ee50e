"""Training on Chainer's Trainer with the CLI's defaults: honest held-out
numbers, a model that learns, exact resumption, clear refusals."""
import json
import os
import signal
import subprocess
import sys
import time

import chainer
import chainer.links as L
import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.models import Music2Vec, SoundNet8, load_model
from chainer_tagger.training import (classification_report,
                                     clip_probabilities, evaluate,
                                     held_out_scores, seed_everything)

from gtzan_fixture import make_tiny_gtzan
from trained_runs import TRAIN_ARGS, looped_windows, params

pytestmark = pytest.mark.shared


def _log(out):
    return json.loads((out / 'log').read_text())


def _meta(path):
    with np.load(path) as f:
        return json.loads(str(f['_meta']))


def test_held_out_scores_count_every_clip_once():
    """Clips of 3, 1 and 2 windows in batches of 2 windows: the loss is the
    mean over clips of the cross-entropy of each clip's mean
    probabilities, whatever the batches."""
    link = L.Linear(4, 3)
    rng = np.random.RandomState(0)
    clips = [rng.normal(size=(k, 4)).astype(np.float32) for k in (3, 1, 2)]
    labels = np.array([0, 2, 1])
    probabilities = clip_probabilities(link, link, clips, batch_size=2)
    want = []
    for x in clips:
        z = x @ link.W.array.T + link.b.array
        p = np.exp(z - z.max(axis=1, keepdims=True))
        want.append((p / p.sum(axis=1, keepdims=True)).mean(axis=0))
    want = np.array(want)
    np.testing.assert_allclose(probabilities, want, rtol=1e-5)
    scores = held_out_scores(probabilities, labels)
    assert scores['loss'] == pytest.approx(
        -np.mean(np.log(want[np.arange(3), labels])), rel=1e-5)
    assert scores['accuracy'] == np.mean(want.argmax(axis=1) == labels)
    # Chainer's Evaluator would average the means of the two batches of
    # clips [0, 1] and [2]: another number.
    nll = -np.log(want[np.arange(3), labels])
    assert abs(np.mean([nll[:2].mean(), nll[2:].mean()]) -
               scores['loss']) > 1e-3


def test_training_writes_log_curves_snapshots_and_models(trained):
    for name in ('best_model.npz', 'model.npz', 'log', 'loss.png',
                 'accuracy.png', 'run.json'):
        assert (trained / name).is_file(), name
    log = _log(trained)
    assert [e['epoch'] for e in log] == [1, 2, 3]
    snapshots = sorted(p.name for p in trained.glob('snapshot_iter_*'))
    assert snapshots == ['snapshot_iter_4', 'snapshot_iter_6']
    run = json.loads((trained / 'run.json').read_text())
    assert run['training']['train_body'] is False
    assert run['settings']['input_fill'] == 'loop'


def test_held_out_numbers_are_the_saved_models_on_every_held_out_clip(
        trained, tiny):
    """The logged validation loss and accuracy of the last epoch, recomputed
    here from the saved model's predictions on windows cut without the
    package: every held-out clip counts once (4 windows in batches of 3,
    the last batch holding 1)."""
    model = load_model(str(trained / 'model.npz'))
    run = _meta(trained / 'model.npz')['training']
    assert run['n_test'] == 2
    report = evaluate(str(trained / 'model.npz'), str(tiny), progress=False)
    assert report['split'] == 'held-out' and report['n_clips'] == 2
    names = list(model.tags)
    truth = np.array([names.index(p.split('/')[-2])
                      for p in report['clips']])
    probabilities = np.stack([
        model.predict(looped_windows(p, model.clip_input.n_samples)).mean(
            axis=0) for p in report['clips']])
    loss = -np.mean(np.log(probabilities[np.arange(2), truth]))
    accuracy = np.mean(probabilities.argmax(axis=1) == truth)
    last = _log(trained)[-1]
    assert last['validation/main/loss'] == pytest.approx(loss, rel=1e-4)
    assert last['validation/main/accuracy'] == accuracy
    assert report['loss'] == pytest.approx(loss, rel=1e-4)
    assert report['accuracy'] == accuracy


def test_best_model_is_the_epoch_of_the_best_held_out_accuracy(
        trained_crnn, tiny):
    """The CRNN's recipe chooses an epoch by the held-out clips."""
    log = _log(trained_crnn)
    meta = _meta(trained_crnn / 'best_model.npz')
    best = max(log, key=lambda e: (e['validation/main/accuracy'],
                                   -e['validation/main/loss']))
    assert meta['epoch'] == best['epoch']
    report = evaluate(str(trained_crnn / 'best_model.npz'), str(tiny),
                      progress=False)
    assert report['accuracy'] == best['validation/main/accuracy']
    assert report['loss'] == pytest.approx(best['validation/main/loss'],
                                           rel=1e-5)


def test_music2vecs_best_model_is_the_mean_of_its_last_epochs(trained,
                                                              tiny):
    """music2vec's recipe averages the weights of the last half of the run
    (3 epochs: epochs 2 and 3), and records the held-out scores of that
    mean, which evaluate reproduces."""
    meta = _meta(trained / 'best_model.npz')
    assert meta['averaged_epochs'] == [2, 3]
    report = evaluate(str(trained / 'best_model.npz'), str(tiny),
                      progress=False)
    assert report['accuracy'] == meta['held_out']['accuracy']
    assert report['loss'] == pytest.approx(meta['held_out']['loss'],
                                           rel=1e-5)
    last = params(trained / 'model.npz')
    mean = params(trained / 'best_model.npz')
    assert np.abs(last['fc1/W'] - mean['fc1/W']).max() > 1e-6
    np.testing.assert_array_equal(last['soundnet/conv1/W'],
                                  mean['soundnet/conv1/W'])


def test_music2vec_learns_on_a_frozen_soundnet(trained):
    """Tones against noise: the held-out clips are right after 3 epochs,
    the held-out loss fell every epoch (six steps at the recipe's lr
    3e-4; by 5 % at least: with the recipe's training gains the steps
    also see the clips up to 18 dB quieter, which slows the fall on the
    clips as they are), the head moved from its seeded start and
    SoundNet's weights are the pretrained ones."""
    log = _log(trained)
    assert log[-1]['validation/main/accuracy'] == 1.0
    losses = [e['validation/main/loss'] for e in log]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.95 * losses[0]
    model = load_model(str(trained / 'model.npz'))
    seed_everything(0)
    start = Music2Vec(soundnet='soundnet8')
    assert np.abs(model.fc1.W.array - start.fc1.W.array).max() > 1e-3
    pretrained = SoundNet8(pretrained_model='soundnet8')
    for (name, a), (_, b) in zip(sorted(model.soundnet.namedparams()),
                                 sorted(pretrained.namedparams())):
        np.testing.assert_array_equal(a.array, b.array, err_msg=name)
    # SoundNet's outputs are standardized before the LSTMs with the
    # statistics of the training windows, saved with the model.
    assert np.abs(model.scene_mean).max() > 1
    assert model.scene_scale.min() > 0


def test_resume_continues_exactly_with_dropout(trained, tiny, tmp_path):
    """A run of 1 epoch resumed to 3 ends with the weights of the
    uninterrupted 3-epoch run (dropout 0.2, random windows): the order,
    the windows and the dropout masks are restored."""
    out = tmp_path / 'resumed'
    args = ['train', '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS
    args[args.index('--epochs') + 1] = '1'
    assert main(args) == 0
    args[args.index('--epochs') + 1] = '3'
    assert main(args + ['--resume']) == 0
    assert [e['epoch'] for e in _log(out)] == [1, 2, 3]
    for name in ('model.npz', 'best_model.npz'):
        a, b = params(trained / name), params(out / name)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7,
                                       err_msg=k)


def test_evaluate_on_another_folder_scores_every_clip(trained, tmp_path):
    other = make_tiny_gtzan(tmp_path / 'other')
    assert main(['evaluate', '--model', str(trained / 'model.npz'),
                 '--data', str(other), '--out', str(tmp_path),
                 '--no-progress']) == 0
    report = json.loads((tmp_path / 'evaluation-other-all.json')
                        .read_text())
    assert report['split'] == 'all' and report['n_clips'] == 8
    assert np.sum(report['confusion_matrix']) == 8
    assert (tmp_path / 'confusion-other-all.png').is_file()


def test_evaluate_a_registry_genre_classifier(tiny):
    """crnn-gtzan records no training run: every clip is scored, with the
    default evaluation windows, zero-padded (it was trained that way)."""
    report = evaluate('crnn-gtzan', str(tiny), progress=False)
    assert report['split'] == 'all' and report['n_clips'] == 8
    assert report['windows_per_clip'] == 8
    model = load_model('crnn-gtzan')
    assert model.clip_input.fill == 'zeros'


def test_evaluate_refuses_a_model_of_other_classes(tiny, capsys):
    assert main(['evaluate', '--model', 'crnn-msd', '--data', str(tiny),
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert 'classifies into 50 classes' in err and 'classical' in err


def test_classification_report_weighting():
    names = ['a', 'b', 'c']
    r = classification_report([0, 0, 0, 1], [0, 0, 1, 1], names)
    assert r['accuracy'] == 0.75
    assert r['per_class']['a'] == {'precision': 1.0, 'recall': 2 / 3,
                                   'f1': 0.8, 'support': 3}
    # weighted by support: (3 * 0.8 + 1 * 2/3) / 4
    assert r['weighted']['f1'] == pytest.approx((3 * 0.8 + 2 / 3) / 4)
    assert r['confusion_matrix'] == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_fine_tune_crnn_trains_the_recurrent_head(tiny, tmp_path):
    """Transfer learning like jsalbert's: crnn-msd with a new 10-genre top;
    by default the conv blocks stay crnn-msd's and the GRUs train."""
    out = tmp_path / 'ft'
    args = ['train', '--model', 'crnn-msd', '--data', str(tiny), '--out',
            str(out)] + TRAIN_ARGS
    args[args.index('--epochs') + 1] = '1'
    assert main(args) == 0
    model = load_model(str(out / 'model.npz'))
    assert model.output.W.shape == (10, 32)
    assert model.tags[0] == 'blues'
    assert model.clip_input.fill == 'loop'
    base = load_model('crnn-msd')
    np.testing.assert_array_equal(model.block1.conv.W.array,
                                  base.block1.conv.W.array)
    np.testing.assert_array_equal(model.block4.bn.running_mean,
                                  base.block4.bn.running_mean)
    moved = [np.abs(a.array - b.array).max() for (_, a), (_, b) in zip(
        sorted(model.gru1.namedparams()), sorted(base.gru1.namedparams()))]
    assert max(moved) > 1e-4
    # The GRUs read the conv blocks' output standardized with the
    # statistics of the training windows, saved with the model; a registry
    # tagger has none (its published scores are those of the raw output).
    assert model.settings['standardized_body'] is True
    assert model.body_mean.shape == model.body_scale.shape == (15, 128)
    assert np.abs(model.body_mean).max() > 0.1
    assert model.body_scale.min() > 0 and np.ptp(model.body_scale) > 0.01
    assert not base.settings['standardized_body']
    assert not hasattr(base, 'body_mean')
    log = json.loads((out / 'log').read_text())
    report = evaluate(str(out / 'model.npz'), str(tiny), progress=False)
    assert report['loss'] == pytest.approx(log[-1]['validation/main/loss'],
                                           rel=1e-5)


def _status(argv):
    """``main``'s exit status, also for a mistake argparse reports."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize('args, message', [
    (['--epochs', '0'], '--epochs: must be a positive integer'),
    (['--lr', '-1'], '--lr: must be a positive number'),
    (['--batch-size', '0'], '--batch-size/-b: must be a positive integer'),
    (['--test-fraction', '0'], '--test-fraction must be between 0 and 1'),
    (['--test-fraction', '1'], '--test-fraction must be between 0 and 1'),
    (['--model', 'probe'], '--model probe needs --features'),
    (['--model', 'probe', '--features', 'soundnet8', '--resume'],
     'a probe is fitted in one go'),
    (['--model', 'cnn-msd'], 'fine-tuning is for the CRNN taggers'),
    (['--resume', '--distributed'], '--resume is not supported with'),
])
def test_impossible_requests_are_one_line_errors_before_any_work(
        tiny, tmp_path, capsys, args, message):
    out = tmp_path / 'never'
    assert _status(['train', '--data', str(tiny), '--out', str(out),
                    '--no-progress'] + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1
    assert not out.exists()


def test_a_genre_with_one_clip_is_refused_before_training(tmp_path, capsys):
    data = make_tiny_gtzan(tmp_path / 'data', per_genre=2)
    (data / 'genres' / 'classical' / 'classical.00001.wav').unlink()
    assert main(['train', '--data', str(data), '--out',
                 str(tmp_path / 'out'), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'at least 2 clips of each genre' in err and 'classical' in err
    assert not (tmp_path / 'out').exists()
    assert main(['train', '--data', str(tmp_path / 'nothing'), '--out',
                 str(tmp_path / 'z'), '--no-progress']) == 2
    assert 'no such folder' in capsys.readouterr().err


def _train_body_cmd(data, out, extra=()):
    return [sys.executable, '-m', 'chainer_tagger.cli', 'train', '--model',
            'music2vec', '--data', str(data), '--epochs', '2',
            '--batch-size', '2', '--test-fraction', '0.25', '--train-body',
            '--snapshot-every', '1', '--no-progress', '--no-embeddings',
            '--out', str(out)] + list(extra)


@pytest.mark.slow
def test_killed_run_with_the_body_training_resumes_exactly(tiny, tmp_path):
    """SIGKILL in the middle of the first epoch of a run that trains
    SoundNet too (dropout 0.2, random crops), then --resume: the final
    weights equal those of an uninterrupted run with the same seed."""
    full = tmp_path / 'full'
    subprocess.run(_train_body_cmd(tiny, full), check=True,
                   capture_output=True)

    cut = tmp_path / 'cut'
    proc = subprocess.Popen(_train_body_cmd(tiny, cut),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (cut / 'snapshot_iter_2').exists():
        assert proc.poll() is None, 'training ended before the kill'
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / 'model.npz').exists()  # it did not finish
    # 6 training clips, batch 2: 3 iterations an epoch; killed in epoch 1.
    subprocess.run(_train_body_cmd(tiny, cut, ['--resume']), check=True,
                   capture_output=True)
    log = _log(cut)
    assert [e['iteration'] for e in log] == [3, 6]
    a, b = params(full / 'model.npz'), params(cut / 'model.npz')
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    # SoundNet itself trained: its weights moved (BN statistics alone
    # would not move them).
    pretrained = SoundNet8(pretrained_model='soundnet8')
    assert np.abs(a['soundnet/conv7/W'] -
                  pretrained.conv7.W.array).max() > 1e-4


@pytest.mark.slow
def test_training_the_body_plots_embeddings_before_and_after(tiny,
                                                             tmp_path):
    out = tmp_path / 'body'
    assert main(['train', '--data', str(tiny), '--out', str(out),
                 '--train-body', '--epochs', '1', '--batch-size', '3',
                 '--test-fraction', '0.25', '--no-progress']) == 0
    for name in ('embeddings_before.npy', 'embeddings_after.npy',
                 'embeddings_pca.png', 'embeddings_tsne.png'):
        assert (out / name).is_file(), name
    before = np.load(out / 'embeddings_before.npy')
    after = np.load(out / 'embeddings_after.npy')
    assert before.shape == after.shape == (8, 401 * 8)
    # The embeddings before training are pretrained SoundNet's.
    pretrained = SoundNet8(pretrained_model='soundnet8')
    with chainer.using_config('train', False):
        first = pretrained.extract(looped_windows(
            sorted((tiny / 'genres' / 'blues').iterdir())[0],
            pretrained.clip_input.n_samples, 1))
    np.testing.assert_allclose(before[0], first[0], rtol=1e-4, atol=1e-3)
