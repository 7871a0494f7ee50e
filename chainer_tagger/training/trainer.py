"""Training music2vec, and fine-tuning the CRNN, on a GTZAN-layout folder.

Built on Chainer's Trainer: a progress bar, a JSON log, loss and accuracy
curves as PNG, a trainer snapshot at the end of every epoch (and every
``snapshot_every`` iterations), ``resume`` that continues from the latest
snapshot, and the model with the best test accuracy saved as
``best_model.npz``.  Runs are reproducible for a given seed: the shuffling
order of each epoch is a function of the seed and the previous order, so a
resumed run sees the same batches as an uninterrupted one.
"""
import dataclasses
import json
import random
import sys
import zlib
from pathlib import Path

import numpy as np

import chainer
import chainer.links as L
from chainer import training
from chainer.training import extensions, triggers

from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.datasets.gtzan import DEFAULT_TEST_FRACTION, GTZAN
from chainer_tagger.device import get_device
from chainer_tagger.errors import TrainingError
from chainer_tagger.inference.embedding import embed_dataset
from chainer_tagger.inference.embedding_plot import (
    plot_embeddings, plot_embeddings_before_after)
from chainer_tagger.models import Music2Vec, load_model
from chainer_tagger.pretrained import registry, save_model_npz
from chainer_tagger.pretrained.model_file import load_npz_safely
from chainer_tagger.training import distributed as dist
from chainer_tagger.training.inputs import (Logits, clip_pipeline,
                                            frozen_soundnet_pipeline)


@dataclasses.dataclass
class TrainingConfig:
    """What a training run does (the ``train`` command's options)."""

    model: str = 'music2vec'
    data: str = None
    out: str = 'result'
    epochs: int = 20
    batch_size: int = 8
    optimizer: str = 'rmsprop'
    lr: float = 1e-4
    gpu: int = None
    resume: bool = False
    seed: int = 0
    test_fraction: float = DEFAULT_TEST_FRACTION
    snapshot_every: int = None
    freeze_soundnet: bool = False
    dropout: float = 0.2
    progress: bool = True
    embeddings: bool = True
    cache_dir: str = None
    distributed: bool = False


class SeededOrderSampler(chainer.iterators.OrderSampler):
    """Epoch orders that depend only on the seed and the previous order."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, current_order, current_position):
        order = np.asarray(current_order, dtype=np.int64)
        key = (zlib.crc32(order.tobytes()) ^ self.seed) & 0xffffffff
        return np.random.RandomState(key).permutation(len(order))


SNAPSHOT_PREFIX = 'snapshot_iter_'


def latest_snapshot(out):
    """The snapshot of the highest iteration in folder ``out``, or None."""
    found = []
    for path in Path(out).glob(SNAPSHOT_PREFIX + '*'):
        suffix = path.name[len(SNAPSHOT_PREFIX):]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


class ResumeFromSnapshot(training.Extension):
    """``--resume``: load the latest snapshot of the output folder into the
    trainer when training starts, without unpickling
    (:func:`~chainer_tagger.pretrained.model_file.load_npz_safely`), where
    Chainer's ``snapshot(autoload=True)`` would open it with
    ``allow_pickle=True``."""

    trigger = (2 ** 62, 'iteration')  # never: it acts in initialize
    priority = training.PRIORITY_READER

    def initialize(self, trainer):
        path = latest_snapshot(trainer.out)
        if path is not None:
            load_npz_safely(path, trainer)

    def __call__(self, trainer):
        pass


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    if chainer.backends.cuda.available:
        import cupy
        cupy.random.seed(seed)


def build_model(config):
    """The model to train and its model-file metadata.

    ``'music2vec'``: a new music2vec on the pretrained SoundNet;
    a tagger's name or file: that tagger with a new 10-genre classifier
    (transfer learning like jsalbert's).
    """
    if config.model == 'music2vec':
        net = Music2Vec(tags=GTZAN_GENRES,
                        freeze_soundnet=config.freeze_soundnet,
                        dropout=config.dropout, soundnet='soundnet8')
        return net, {'arch': net.arch, 'settings': net.settings,
                     'base': 'soundnet8'}
    base = load_model(config.model)
    if base.arch != 'crnn':
        raise TrainingError('fine-tuning is for the CRNN taggers (crnn-msd, '
                            'crnn-gtzan, rnn0-msd), not {}'.format(
                                config.model))
    base.with_classes(GTZAN_GENRES)
    return base, {'arch': base.arch, 'settings': base.settings,
                  'base': str(config.model)}


def _dataset(config, net, comm, progress):
    """The GTZAN folder, cached as ``net`` takes it, and how ``net`` is
    called on it (``'logits'`` or, frozen SoundNet, ``'head'``)."""
    frozen = config.freeze_soundnet and net.arch == 'music2vec'
    pipeline = frozen_soundnet_pipeline(net) if frozen else \
        clip_pipeline(net)
    cache_dir = Path(config.cache_dir) if config.cache_dir else \
        registry.cache_dir() / 'features'
    if comm is not None and comm.rank != 0:
        comm.mpi_comm.Barrier()  # rank 0 decodes and caches first
    gtzan = GTZAN(config.data, pipeline.feature, pipeline.kind, cache_dir,
                  progress=progress, transform=pipeline.transform)
    if comm is not None and comm.rank == 0:
        comm.mpi_comm.Barrier()
    return gtzan, 'head' if frozen else 'logits'


def _optimizer(config, comm):
    make = {'rmsprop': lambda: chainer.optimizers.RMSprop(lr=config.lr),
            'adam': lambda: chainer.optimizers.Adam(alpha=config.lr)}
    opt = make[config.optimizer]()
    if comm is not None:
        import chainermn
        opt = chainermn.create_multi_node_optimizer(opt, comm)
    return opt


def _add_reporting(trainer, config, net, meta, has_test):
    """Log, curves, console report, progress bar, snapshots, best model."""
    out = Path(config.out)
    trainer.extend(extensions.LogReport(trigger=(1, 'epoch')))
    trainer.extend(extensions.PlotReport(
        ['main/loss', 'validation/main/loss'], 'epoch',
        filename='loss.png'))
    trainer.extend(extensions.PlotReport(
        ['main/accuracy', 'validation/main/accuracy'], 'epoch',
        filename='accuracy.png'))
    # Reports and progress go to stderr; Chainer's bar draws with ANSI
    # escapes, so only on a terminal (the report's lines remain).
    trainer.extend(extensions.PrintReport(
        ['epoch', 'iteration', 'main/loss', 'main/accuracy',
         'validation/main/loss', 'validation/main/accuracy',
         'elapsed_time'], out=sys.stderr))
    if config.progress and sys.stderr.isatty():
        trainer.extend(extensions.ProgressBar(update_interval=1,
                                              out=sys.stderr))

    def snapshot_due(trainer):
        it = trainer.updater.iteration
        return trainer.updater.is_new_epoch or bool(
            config.snapshot_every and it % config.snapshot_every == 0)
    trainer.extend(extensions.snapshot(
        filename=SNAPSHOT_PREFIX + '{.updater.iteration}', n_retains=2),
        trigger=snapshot_due)
    if config.resume:
        trainer.extend(ResumeFromSnapshot())

    key = 'validation/main/accuracy' if has_test else 'main/accuracy'

    @training.make_extension(trigger=triggers.MaxValueTrigger(
        key, trigger=(1, 'epoch')), priority=-100)
    def save_best(trainer):
        save_model_npz(out / 'best_model.npz', net, dict(
            meta, epoch=trainer.updater.epoch,
            accuracy=float(trainer.observation.get(key, np.nan))))
    trainer.extend(save_best, name='save_best')


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
                               progress=progress)
    return plot_embeddings_before_after(
        before, after, gtzan.labels, GTZAN_GENRES, out / 'embeddings',
        'SoundNet embeddings', seed=seed, held_out=held_out,
        progress=progress)


def train(config=None, **options):
    """Train and return the path of the best model (see module docstring).

    Takes a :class:`TrainingConfig` or its fields as keyword arguments.
    With ``distributed=True`` (under ``mpiexec``) the run is data-parallel
    over the MPI processes (:mod:`chainer_tagger.training.distributed`).
    """
    config = dataclasses.replace(config or TrainingConfig(), **options)
    comm = None
    if config.distributed:
        if config.resume:
            raise TrainingError('--resume is not supported with '
                                '--distributed yet: restart the run, or '
                                'resume it on one process')
        comm = dist.create_communicator(config.gpu)
        if config.gpu is not None and config.gpu >= 0:
            config.gpu = comm.intra_rank
    rank0 = comm is None or comm.rank == 0
    config.progress = config.progress and rank0
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    device = get_device(config.gpu)
    net, meta = build_model(config)
    net.to_device(device)
    gtzan, method = _dataset(config, net, comm, config.progress)
    train_idx, test_idx = gtzan.split(config.test_fraction, config.seed)
    held_out = np.zeros(len(gtzan), bool)
    held_out[test_idx] = True  # every process's, before sharding
    meta['training'] = {
        'data': str(Path(config.data).resolve()), 'seed': config.seed,
        'test_fraction': config.test_fraction, 'epochs': config.epochs,
        'batch_size': config.batch_size, 'optimizer': config.optimizer,
        'lr': config.lr, 'n_train': len(train_idx), 'n_test': len(test_idx)}
    meta['name'] = None
    has_test = len(test_idx) > 0
    if comm is not None:
        meta['training']['processes'] = comm.size
        train_idx, test_idx = dist.shard(train_idx, comm), \
            dist.shard(test_idx, comm)
        dist.make_batch_norm_global(net, comm)
    if rank0:
        with open(out / 'run.json', 'w') as f:
            json.dump(meta, f, indent=1)

    classifier = L.Classifier(Logits(net, method))
    classifier.to_device(device)
    device.use()
    opt = _optimizer(config, comm)
    opt.setup(classifier)
    train_iter = chainer.iterators.SerialIterator(
        gtzan.subset(train_idx), config.batch_size,
        order_sampler=SeededOrderSampler(config.seed))
    updater = training.updaters.StandardUpdater(train_iter, opt,
                                                device=device)
    trainer = training.Trainer(updater, (config.epochs, 'epoch'),
                               out=str(out))
    if has_test:
        test_iter = chainer.iterators.SerialIterator(
            gtzan.subset(test_idx), config.batch_size, repeat=False,
            shuffle=False)
        evaluator = extensions.Evaluator(test_iter, classifier,
                                         device=device)
        if comm is not None:
            import chainermn
            evaluator = chainermn.create_multi_node_evaluator(evaluator,
                                                              comm)
        trainer.extend(evaluator, trigger=(1, 'epoch'))
    if not rank0:  # only rank 0 reports and writes
        trainer.run()
        return None
    _add_reporting(trainer, config, net, meta, has_test)

    # A frozen body's embeddings do not change.
    embeddings = config.embeddings and net.arch == 'music2vec' and \
        not config.freeze_soundnet
    before = None
    if embeddings and not config.resume:
        before = embed_dataset(net, gtzan, config.batch_size,
                               progress=config.progress)
        np.save(out / 'embeddings_before.npy', before)
    trainer.run()
    save_model_npz(out / 'model.npz', net, dict(meta, epoch=config.epochs))
    if embeddings:
        if before is None and (out / 'embeddings_before.npy').is_file():
            before = np.load(out / 'embeddings_before.npy')
        _plot_embeddings(out, gtzan, before,
                         embed_dataset(net, gtzan, config.batch_size,
                                       progress=config.progress),
                         config.seed, held_out, config.progress)
    best_path = out / 'best_model.npz'
    if not best_path.is_file():
        save_model_npz(best_path, net, dict(meta, epoch=config.epochs))
    return best_path
