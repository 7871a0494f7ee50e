"""Training music2vec, and fine-tuning the CRNN, on a GTZAN-layout folder.

The recipe (the defaults; see the README for the numbers behind them):

* The pretrained body stays frozen (SoundNet for music2vec; the input BN
  and conv blocks for the CRNN): on a few hundred clips there is too
  little data to move millions of pretrained weights usefully, and a
  frozen body's output for a window never changes, so it is computed once
  per window and cached
  (:class:`~chainer_tagger.training.inputs.FrozenBodyOutputs`);
  an epoch then costs only the head.  ``train_body=True`` trains the body
  too.
* Clips shorter than the input are looped, not padded with zeros
  (``input_fill='loop'``), and each clip is seen through a different
  window every epoch (a random one of its ``windows`` evaluation windows
  with a frozen body, a random crop or rotation otherwise); evaluation
  averages the class probabilities of the ``windows`` windows.
* The head's input is standardized with the statistics of the training
  windows (``standardize_head_input``): SoundNet's output before
  music2vec's LSTMs, the conv blocks' output before the CRNN's GRUs.
* Adam; the model with the best held-out accuracy (over all validation
  clips, ties broken by the loss) is ``best_model.npz``.

Built on Chainer's Trainer: a JSON log, loss and accuracy curves as PNG, a
trainer snapshot at the end of every epoch (and every ``snapshot_every``
iterations) without the frozen body, the latest two kept
(:mod:`~chainer_tagger.training.snapshots`), ``resume`` that continues
from the latest snapshot of the same run.  Runs are
reproducible for a given seed: the order of each epoch is a function of
the seed and the previous order, each clip's window of the seed, the epoch
and the clip, and NumPy's random state (dropout) is part of the snapshot,
so a resumed run ends with the weights of an uninterrupted one.
"""
import collections
import dataclasses
import json
import os
import random
import sys
import zlib
from pathlib import Path

import numpy as np

import chainer
import chainer.links as L
from chainer import training
from chainer.training import extensions

from chainer_tagger.configuration import (DEFAULT_EVALUATION_WINDOWS,
                                          MAX_MUSIC2VEC_HEADS,
                                          GTZAN_GENRES, TRAINING_RECIPES,
                                          WINDOW_FILLS)
from chainer_tagger.datasets.gtzan import DEFAULT_TEST_FRACTION, find_clips
from chainer_tagger.device import get_device
from chainer_tagger.errors import DatasetError, TrainingError, UsageError
from chainer_tagger.inference.embedding import embed_dataset
from chainer_tagger.inference.embedding_plot import (
    plot_embeddings, plot_embeddings_before_after)
from chainer_tagger.models import ARCHITECTURES, Music2Vec, load_model
from chainer_tagger.pretrained import registry, save_model_npz
from chainer_tagger.training import distributed as dist
from chainer_tagger.training.inputs import (EvaluationWindows,
                                            FrozenBodyOutputs, Logits,
                                            TrainingWindows, decoded_clips)
from chainer_tagger.training.losses import ensemble_accuracy, ensemble_loss
from chainer_tagger.training.optimizers import FusedAdam
from chainer_tagger.training.weight_average import WeightAverage
from chainer_tagger.training.probe import (fit_probe, load_dataset,
                                           warn_about_clips)
from chainer_tagger.training.reporting import (HeldOutScores,
                                               LearningCurves, PlainText,
                                               Progress, RandomState,
                                               SaveBest)
from chainer_tagger.training.run_folder import (prepare_run_folder,
                                                recorded_recipe)
from chainer_tagger.training.snapshots import (FrozenBody,
                                               ResumeFromSnapshot, Snapshots,
                                               check_frozen_body)

# (Defined in configuration, which ``train --help`` reads without
# importing the training machinery.)
#: Default learning rate and epochs of each kind of model (see the README
#: for how they were chosen).
RECIPES = TRAINING_RECIPES


@dataclasses.dataclass
class TrainingConfig:
    """What a training run does (the ``train`` command's options).

    ``lr``, ``epochs`` and ``dropout`` left at None take the recipe of the
    model (:data:`RECIPES`).
    """

    model: str = 'music2vec'
    data: str = None
    out: str = 'result'
    epochs: int = None
    batch_size: int = 8
    optimizer: str = 'adam'
    lr: float = None
    weight_decay: float = 0.0
    gpu: int = None
    resume: bool = False
    seed: int = 0
    test_fraction: float = DEFAULT_TEST_FRACTION
    snapshot_every: int = None
    train_body: bool = False
    dropout: float = None
    heads: int = None
    windows: int = DEFAULT_EVALUATION_WINDOWS
    input_fill: str = 'loop'
    features: str = None
    progress: bool = False
    embeddings: bool = True
    cache_dir: str = None
    distributed: bool = False


def check_config(config):
    """Refuse a run that cannot work, before any work
    (:class:`~chainer_tagger.errors.UsageError`, one line each)."""
    def positive(name, value, integer=False):
        if value is not None and (value <= 0 or (
                integer and int(value) != value)):
            raise UsageError('--{} must be a positive {}, got {}'.format(
                name, 'integer' if integer else 'number', value))
    positive('epochs', config.epochs, True)
    positive('batch-size', config.batch_size, True)
    positive('lr', config.lr)
    positive('windows', config.windows, True)
    positive('heads', config.heads, True)
    if config.heads is not None and (config.model != 'music2vec' or
                                     config.heads > MAX_MUSIC2VEC_HEADS):
        raise UsageError('--heads is for music2vec, 1 to {}'.format(
            MAX_MUSIC2VEC_HEADS))
    positive('snapshot-every', config.snapshot_every, True)
    if not 0 < config.test_fraction < 1:
        raise UsageError(
            '--test-fraction must be between 0 and 1 (exclusive), got {}: '
            'training validates on held-out clips of each genre'.format(
                config.test_fraction))
    if config.weight_decay < 0:
        raise UsageError('--weight-decay must be >= 0, got {}'.format(
            config.weight_decay))
    if config.dropout is not None and not 0 <= config.dropout < 1:
        raise UsageError('--dropout must be in [0, 1), got {}'.format(
            config.dropout))
    if config.input_fill not in WINDOW_FILLS:
        raise UsageError('--input-fill must be one of {}'.format(
            ', '.join(WINDOW_FILLS)))
    if config.model == 'probe' and not config.features:
        raise UsageError("--model probe needs --features (e.g. soundnet8 or "
                         'crnn-msd)')
    if config.features and config.model != 'probe':
        raise UsageError('--features is for --model probe')
    if config.model == 'probe' and (config.resume or config.distributed or
                                    config.train_body):
        raise UsageError('a probe is fitted in one go on one process: '
                         '--resume, --distributed and --train-body do not '
                         'apply')
    if config.distributed and config.resume:
        raise TrainingError('--resume is not supported with --distributed '
                            'yet: restart the run, or resume it on one '
                            'process')


def check_clips_per_genre(labels, where):
    """A classifier needs two genres at least, and every genre of the
    folder a clip to train on and one to validate on."""
    counts = collections.Counter(GTZAN_GENRES[k] for k in labels)
    if len(counts) < 2:
        raise UsageError(
            '{}: training a genre classifier needs clips of at least 2 '
            'genres; this folder has {}'.format(
                where, ', '.join(counts) or 'none'))
    few = sorted(g for g, n in counts.items() if n < 2)
    if few:
        raise UsageError(
            '{}: training needs at least 2 clips of each genre (one to '
            'train on, one held out); {} {} only 1'.format(
                where, ', '.join(few), 'has' if len(few) == 1 else 'have'))


class SeededOrderSampler(chainer.iterators.OrderSampler):
    """Epoch orders that depend only on the seed and the previous order."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, current_order, current_position):
        order = np.asarray(current_order, dtype=np.int64)
        key = (zlib.crc32(order.tobytes()) ^ self.seed) & 0xffffffff
        return np.random.RandomState(key).permutation(len(order))


def seed_everything(seed, device=None):
    """Seed Python's and NumPy's generators, and on a GPU ``device`` that
    device's CuPy generator and cuDNN's dropout.

    CuPy is touched only for a GPU run (a CPU run on a host with CuPy and
    no usable GPU must not open a CUDA context), and on the run's own
    device, not device 0.  cuDNN's dropout does not use CuPy's generator:
    Chainer seeds its states once per process and device from the
    ``CHAINER_SEED`` environment variable (else from ``os.urandom``), so
    it is set to ``seed`` here, before the first dropout; a second run in
    the same process keeps the first run's cuDNN states.  On a GPU a run
    is therefore reproducible for a seed from its start, but ``--resume``
    does not restore CuPy's or cuDNN's random state (NumPy's is part of the
    snapshot): a resumed GPU run draws other dropout masks.
    """
    random.seed(seed)
    np.random.seed(seed)
    if device is None or device.xp is np:
        return
    os.environ['CHAINER_SEED'] = str(seed)
    with chainer.using_device(device):
        device.xp.random.seed(seed)


def recipe_value(config, arch, name):
    value = getattr(config, name)
    return RECIPES[arch][name] if value is None else value


def run_recipe(config, arch):
    """The values of the recipe of model kind ``arch`` a run uses (the
    options it was given, the recipe's defaults for the others): part of
    what makes a run that run (:func:`~chainer_tagger.training.run_folder.
    run_settings`)."""
    recipe = {'lr': recipe_value(config, arch, 'lr'),
              'dropout': recipe_value(config, arch, 'dropout')}
    if arch == 'music2vec':
        recipe.update(heads=recipe_value(config, arch, 'heads'),
                      **{k: RECIPES[arch][k] for k in (
                          'input_dropout', 'decoupled_weight_decay',
                          'average_from', 'training_gains_db')})
    return recipe


def build_model(config):
    """The model to train and its model-file metadata.

    ``'music2vec'``: a new music2vec on the pretrained SoundNet;
    a tagger's name or file: that CRNN with a new 10-genre classifier
    (transfer learning like jsalbert's).  The body is frozen unless
    ``config.train_body``.
    """
    if config.model == 'music2vec':
        net = Music2Vec(tags=GTZAN_GENRES,
                        dropout=recipe_value(config, 'music2vec', 'dropout'),
                        heads=recipe_value(config, 'music2vec', 'heads'),
                        input_dropout=RECIPES['music2vec']['input_dropout'],
                        input_fill=config.input_fill, soundnet='soundnet8')
        base = 'soundnet8'
    else:
        _, meta = registry.prepare(config.model, ARCHITECTURES)
        if meta['arch'] != 'crnn':
            raise TrainingError(
                'fine-tuning is for the CRNN taggers (crnn-msd, crnn-gtzan, '
                'rnn0-msd), not {}'.format(config.model))
        overrides = {'input_fill': config.input_fill}
        if meta['settings'].get('bn_mode') == 2:
            # Batch statistics at test time: normalize each window on its
            # own, so a window's output does not depend on its batch.
            overrides['per_clip'] = True
        net = load_model(config.model, **overrides)
        net.with_classes(GTZAN_GENRES)
        net.feature_dropout = recipe_value(config, 'crnn', 'dropout')
        base = str(config.model)
    if not config.train_body:
        net.freeze_body()
    return net, {'arch': net.arch, 'settings': net.settings, 'base': base}


def _optimizer(config, lr, comm, decay=0.0):
    """The run's optimizer; ``decay``: Adam's decoupled weight decay
    (AdamW: each step also shrinks every weight by that fraction)."""
    make = {'rmsprop': lambda: chainer.optimizers.RMSprop(lr=lr),
            'adam': lambda: FusedAdam(alpha=lr, weight_decay_rate=decay)}
    opt = make[config.optimizer]()
    if comm is not None:
        import chainermn
        opt = chainermn.create_multi_node_optimizer(opt, comm)
    return opt


def _add_reporting(trainer, config, net, meta, title):
    """Log, curves, console report, progress bar, snapshots, best model."""
    out = Path(config.out)
    trainer.extend(extensions.LogReport(trigger=(1, 'epoch')))
    trainer.extend(LearningCurves(str(out), title))
    terminal = sys.stderr.isatty()
    # config.progress is settled already (the CLI's --progress,
    # --no-progress, else whether stderr is a terminal): --progress into a
    # log still wants the bar, and the epoch lines go above it.
    trainer.extend(extensions.PrintReport(
        ['epoch', 'iteration', 'main/loss', 'main/accuracy',
         'validation/main/loss', 'validation/main/accuracy',
         'elapsed_time'], out=sys.stderr if terminal and not config.progress
        else PlainText(sys.stderr, above_bar=config.progress)))
    if config.progress:
        trainer.extend(Progress(sys.stderr))
    trainer.extend(SaveBest(out / 'best_model.npz', net, meta),
                   name='save_best')


def _snapshots(trainer, config, classifier, net):
    """Snapshots without the frozen body, and ``--resume`` from the latest
    (:mod:`~chainer_tagger.training.snapshots`)."""
    def snapshot_due(trainer):
        it = trainer.updater.iteration
        return trainer.updater.is_new_epoch or bool(
            config.snapshot_every and it % config.snapshot_every == 0)
    frozen_body = FrozenBody(
        classifier, [] if config.train_body else net.body_links())
    trainer.extend(Snapshots(frozen_body), name='snapshot',
                   trigger=snapshot_due)
    trainer.extend(RandomState(), name='random_state')
    # Always there, so that every snapshot has the same extensions.
    trainer.extend(ResumeFromSnapshot(frozen_body, config.resume))


def _plot_embeddings(out, gtzan, before, after, seed, held_out, progress):
    """One figure per projection with the embeddings before and after
    training (held-out clips hollow); only after, when the run resumed
    without the ``before`` file."""
    np.save(out / 'embeddings_after.npy', after)
    np.save(out / 'embedding_labels.npy', gtzan.labels)
    if before is None:
        return plot_embeddings(after, gtzan.labels, GTZAN_GENRES,
                               out / 'embeddings_after',
                               'SoundNet embeddings after training',
                               seed=seed, held_out=held_out,
                               progress=progress, legend_title='genre')
    return plot_embeddings_before_after(
        before, after, gtzan.labels, GTZAN_GENRES, out / 'embeddings',
        'SoundNet embeddings', seed=seed, held_out=held_out,
        progress=progress, legend_title='genre')


def train(config=None, **options):
    """Train and return the path of the best model (see module docstring).

    Takes a :class:`TrainingConfig` or its fields as keyword arguments.
    ``model='probe'`` fits a linear probe instead
    (:func:`~chainer_tagger.training.probe.fit_probe`).  With
    ``distributed=True`` (under ``mpiexec``) the run is data-parallel over
    the MPI processes (:mod:`chainer_tagger.training.distributed`).
    """
    config = dataclasses.replace(config or TrainingConfig(), **options)
    check_config(config)
    check_clips_per_genre([k for _, k in find_clips(config.data)],
                          config.data)
    if config.model == 'probe':
        return fit_probe(config, get_device(config.gpu))
    comm = None
    if config.distributed:
        comm = dist.create_communicator(config.gpu)
        if config.gpu is not None and config.gpu >= 0:
            config.gpu = comm.intra_rank
    rank0 = comm is None or comm.rank == 0
    config.progress = config.progress and rank0
    device = get_device(config.gpu)
    seed_everything(config.seed, device)
    net, meta = build_model(config)
    net.to_device(device)
    out = Path(config.out)
    recipe = recorded_recipe(config, run_recipe(config, net.arch))
    lr = recipe['lr']
    epochs = recipe_value(config, net.arch, 'epochs')
    config.resume = prepare_run_folder(config, recipe, write=rank0)
    if config.resume and not config.train_body:
        check_frozen_body(out, net.body_links())
    clip_input = net.clip_input
    frozen = not config.train_body
    gains = recipe.get('training_gains_db', [])
    body_outputs = FrozenBodyOutputs(net, clip_input, config.windows,
                                     net.arch, gains if frozen else [])
    outputs = load_dataset(config, body_outputs.pipeline, comm)
    check_clips_per_genre(outputs.labels, config.data)
    gtzan = outputs if frozen else load_dataset(
        config, decoded_clips(clip_input), comm)
    if gtzan.paths != outputs.paths:
        raise DatasetError('{}: clips could be decoded but not analysed, '
                           'or the other way round'.format(config.data))
    if rank0:
        warn_about_clips(gtzan, clip_input)
    train_idx, test_idx = gtzan.split(config.test_fraction, config.seed)
    held_out = np.zeros(len(gtzan), bool)
    held_out[test_idx] = True  # every process's, before sharding
    net.standardize_head_input(np.concatenate(
        [outputs.feature(j)[:config.windows] for j in train_idx]))
    meta['settings'] = net.settings  # with the standardization's setting
    meta['training'] = {
        'data': str(Path(config.data).resolve()), 'seed': config.seed,
        'test_fraction': config.test_fraction, 'epochs': epochs,
        'batch_size': config.batch_size, 'optimizer': config.optimizer,
        'lr': lr, 'weight_decay': config.weight_decay,
        'decoupled_weight_decay': recipe.get('decoupled_weight_decay',
                                             0.0),
        'training_gains_db': gains,
        'train_body': config.train_body, 'input_fill': config.input_fill,
        'evaluation_windows': config.windows,
        'n_train': len(train_idx), 'n_test': len(test_idx)}
    meta['name'] = None
    if comm is not None:
        meta['training']['processes'] = comm.size
        train_idx = dist.shard(train_idx, comm)
        dist.make_batch_norm_global(net, comm)
    if rank0:
        with open(out / 'run.json', 'w') as f:
            json.dump(meta, f, indent=1)

    method = 'head' if frozen else 'logits'
    classifier = L.Classifier(Logits(net, method), lossfun=ensemble_loss,
                              accfun=ensemble_accuracy)
    classifier.to_device(device)
    device.use()
    opt = _optimizer(config, lr, comm,
                     recipe.get('decoupled_weight_decay', 0.0))
    opt.setup(classifier)
    if frozen:
        # The update rules exist only now (freeze_body could not disable
        # them): disabled, the body gets no Adam state (126 MB for
        # SoundNet) and none in the snapshots.
        for link in net.body_links():
            link.disable_update()
    if config.weight_decay:
        opt.add_hook(chainer.optimizer_hooks.WeightDecay(
            config.weight_decay))
    windows = TrainingWindows(gtzan, train_idx, clip_input, config.seed,
                              frozen, gains)
    train_iter = chainer.iterators.SerialIterator(
        windows, config.batch_size,
        order_sampler=SeededOrderSampler(config.seed))
    windows.iterator = train_iter
    updater = training.updaters.StandardUpdater(train_iter, opt,
                                                device=device)
    trainer = training.Trainer(updater, (epochs, 'epoch'), out=str(out))
    # Every process scores all held-out clips (the same numbers), so that
    # BN layers that gather statistics across processes stay in step.
    validation = HeldOutScores(
        net, getattr(net, method),
        EvaluationWindows(gtzan, test_idx, clip_input, config.windows,
                          frozen),
        gtzan.labels[test_idx], config.batch_size)
    trainer.extend(validation)
    averager = None
    if recipe.get('average_from') is not None:
        averager = WeightAverage(
            net, int(epochs * recipe['average_from']) + 1)
        trainer.extend(averager, name='weight_average')
    if not rank0:  # only rank 0 reports and writes
        trainer.run()
        return None
    _add_reporting(trainer, config, net, meta, title='{} on {}'.format(
        config.model, Path(config.data).resolve().name))
    _snapshots(trainer, config, classifier, net)

    # A frozen body's embeddings do not change.
    embeddings = config.embeddings and net.arch == 'music2vec' and \
        config.train_body
    before = None
    if embeddings and not config.resume:
        before = embed_dataset(net, gtzan, config.batch_size,
                               progress=config.progress)
        np.save(out / 'embeddings_before.npy', before)
    trainer.run()
    save_model_npz(out / 'model.npz', net, dict(meta, epoch=epochs))
    if averager is not None and averager.apply():
        # The run's model is the mean of its last epochs' weights: it, not
        # an epoch chosen by the held-out clips, is best_model.npz.
        scores = validation.scores()
        save_model_npz(out / 'best_model.npz', net, dict(
            meta, epoch=epochs, averaged_epochs=[averager.start, epochs],
            held_out=scores))
    if embeddings:
        if before is None and (out / 'embeddings_before.npy').is_file():
            before = np.load(out / 'embeddings_before.npy')
        _plot_embeddings(out, gtzan, before,
                         embed_dataset(net, gtzan, config.batch_size,
                                       progress=config.progress),
                         config.seed, held_out, config.progress)
    return out / 'best_model.npz'
