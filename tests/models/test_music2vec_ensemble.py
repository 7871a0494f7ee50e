"""music2vec as an ensemble of heads on one SoundNet body."""
import numpy as np
import pytest

import chainer
import chainer.functions as F

from chainer_tagger.errors import ModelFileError
from chainer_tagger.models import Music2Vec, load_model
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.training.losses import ensemble_accuracy, ensemble_loss


def _scenes(n=3, seed=0):
    return np.random.RandomState(seed).randn(n, 401, 8).astype(np.float32)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_an_ensemble_reports_the_mean_probability_of_its_heads():
    net = Music2Vec(heads=3)
    x = _scenes()
    with chainer.using_config('train', False):
        each = net.head_logits(x).array
        combined = net.head(x).array
        scores = net.scores(net.head(x)).array
    assert each.shape == (3, 3, 10)
    expected = _softmax(each).mean(axis=1)
    np.testing.assert_allclose(_softmax(combined), expected, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    # The heads differ (independent initialisations), so the mean is no
    # head's answer.
    assert np.abs(each[:, 0] - each[:, 1]).max() > 1e-3


def test_one_head_is_the_seeds_model_with_its_link_names():
    net = Music2Vec()
    names = {n for n, _ in net.namedparams() if not n.startswith(
        '/soundnet')}
    assert names and all(n.split('/')[1] in ('lstm', 'fc1', 'fc2', 'output')
                         for n in names)
    assert 'heads' not in net.settings
    with chainer.using_config('train', True):
        assert net.head(_scenes()).shape == (3, 10)


def test_training_gets_each_heads_logits_and_each_its_own_loss():
    net = Music2Vec(heads=2, dropout=0.0)
    x, t = _scenes(4), np.array([0, 3, 3, 9], np.int32)
    with chainer.using_config('train', True):
        logits = net.training_head(x)
        # head() is the ensemble's answer in either mode.
        assert net.head(x).shape == (4, 10)
    assert logits.shape == (4, 2, 10)
    net.cleargrads()
    loss = ensemble_loss(logits, t)
    per_head = [F.softmax_cross_entropy(logits[:, k], t).array
                for k in range(2)]
    np.testing.assert_allclose(loss.array, np.mean(per_head), rtol=1e-6)
    # Each head's gradient is its own loss's, halved: no head sees another.
    loss.backward()
    g_first = net.output.W.grad.copy()
    net.cleargrads()
    with chainer.using_config('train', True):
        alone = F.softmax_cross_entropy(net.head_logits(x)[:, 0], t) / 2
    alone.backward()
    np.testing.assert_allclose(g_first, net.output.W.grad, rtol=1e-5,
                               atol=1e-8)
    p = _softmax(logits.array).mean(axis=1)
    assert ensemble_accuracy(logits, t).array == pytest.approx(
        (p.argmax(1) == t).mean())


def test_an_ensemble_file_loads_with_its_heads(tmp_path):
    net = Music2Vec(heads=3)
    net.standardize_head_input(_scenes(6, seed=1))
    path = tmp_path / 'm2v.npz'
    save_model_npz(path, net, {'arch': 'music2vec', 'settings': net.settings,
                               'name': None})
    loaded = load_model(str(path))
    assert loaded.n_heads == 3
    x = _scenes()
    with chainer.using_config('train', False):
        np.testing.assert_array_equal(loaded.head(x).array,
                                      net.head(x).array)


def test_a_file_asking_for_absurd_heads_is_refused(tmp_path):
    net = Music2Vec()
    path = tmp_path / 'm2v.npz'
    save_model_npz(path, net, {'arch': 'music2vec',
                               'settings': dict(net.settings, heads=10 ** 6),
                               'name': None})
    with pytest.raises(ModelFileError, match='heads'):
        load_model(str(path))


@pytest.mark.shared
def test_train_heads_writes_an_ensemble_that_every_command_reads(
        tiny, tmp_path):
    from chainer_tagger.cli import main
    from chainer_tagger.pretrained.model_file import read_model_meta
    from chainer_tagger.training.evaluation import evaluate
    from trained_runs import TRAIN_ARGS
    out = tmp_path / 'run'
    assert main(['train', '--data', str(tiny), '--out', str(out),
                 '--heads', '3'] + TRAIN_ARGS) == 0
    best = out / 'best_model.npz'
    assert read_model_meta(best)['settings']['heads'] == 3
    model = load_model(str(best))
    assert model.n_heads == 3
    clip = sorted(tiny.glob('genres/*/*.wav'))[0]
    import soundfile as sf
    y, _ = sf.read(clip, dtype='float32')
    x = np.tile(y, model.clip_input.n_samples // len(y) + 1)[
        None, :model.clip_input.n_samples]
    p = model.predict(x)
    assert p.shape == (1, 2 if len(model.tags) == 2 else 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    report = evaluate(str(best), str(tiny))
    assert 0 <= report['accuracy'] <= 1 and np.isfinite(report['loss'])


def test_heads_is_for_music2vec_only():
    from chainer_tagger.errors import UsageError
    from chainer_tagger.training.trainer import TrainingConfig, check_config
    with pytest.raises(UsageError, match='--heads'):
        check_config(TrainingConfig(model='crnn-msd', heads=2, data='x'))
    with pytest.raises(UsageError, match='--heads'):
        check_config(TrainingConfig(heads=33, data='x'))


def test_input_dropout_draws_a_mask_of_its_own_for_each_head():
    """Dropout 0 everywhere but on the scenes: in training two heads with
    the same weights still answer differently (their own masks); in
    inference they agree, and the setting is kept for the model file."""
    net = Music2Vec(heads=2, dropout=0.0, input_dropout=0.5)
    for a, b in zip(net._first_head.params(), net.more_heads[0].params()):
        b.array[...] = a.array
    x = _scenes(4)
    with chainer.using_config('train', True):
        each = net.head_logits(x).array
    assert np.abs(each[:, 0] - each[:, 1]).max() > 1e-4
    with chainer.using_config('train', False):
        each = net.head_logits(x).array
    np.testing.assert_array_equal(each[:, 0], each[:, 1])
    assert net.settings['input_dropout'] == 0.5


@pytest.mark.shared
def test_the_recipe_reaches_the_trained_model(trained):
    """A default run trains the recipe's ensemble with its dropouts and
    Adam's decoupled weight decay, and says so in the model file."""
    from chainer_tagger.configuration import TRAINING_RECIPES
    from chainer_tagger.pretrained.model_file import read_model_meta
    recipe = TRAINING_RECIPES['music2vec']
    meta = read_model_meta(trained / 'best_model.npz')
    assert meta['settings']['heads'] == recipe['heads']
    assert meta['settings']['input_dropout'] == recipe['input_dropout']
    assert meta['settings']['dropout'] == recipe['dropout']
    assert meta['training']['decoupled_weight_decay'] == \
        recipe['decoupled_weight_decay']
    assert meta['training']['training_gains_db'] == \
        recipe['training_gains_db'] == [6, -6, -12, -18]
