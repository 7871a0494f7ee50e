"""Training music2vec, and fine-tuning the CRNN, on a GTZAN-layout folder.

Built on Chainer's Trainer: a progress bar, a JSON log, loss and accuracy
curves as PNG, a trainer snapshot at the end of every epoch (and every
``snapshot_every`` iterations), ``resume`` that continues from the latest
snapshot, and the model with the best test accuracy saved as
``best_model.npz``.  Runs are reproducible for a given seed: the shuffling
order of each epoch is a function of the seed and the previous order, so a
resumed run sees the same batches as an uninterrupted one.
"""
import json
import os
import random
import threading
import zlib
from pathlib import Path

import numpy as np

import chainer
import chainer.links as L
from chainer import training
from chainer.training import extensions, triggers

from chainer_tagger.datasets.gtzan import (DEFAULT_TEST_FRACTION, GTZAN,
                                           waveform_feature)
from chainer_tagger.device import get_device
from chainer_tagger.model_file import save_model_npz
from chainer_tagger.tags import GTZAN_GENRES


class TrainingError(ValueError):
    """A training request that cannot be carried out, with the reason."""


class SeededOrderSampler(chainer.iterators.OrderSampler):
    """Epoch orders that depend only on the seed and the previous order."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, current_order, current_position):
        order = np.asarray(current_order, dtype=np.int64)
        key = (zlib.crc32(order.tobytes()) ^ self.seed) & 0xffffffff
        return np.random.RandomState(key).permutation(len(order))


class Logits(chainer.Chain):
    """A model's pre-softmax scores, for :class:`chainer.links.Classifier`.

    ``method`` is ``'logits'`` (raw inputs) or ``'head'`` (music2vec fed
    with cached SoundNet outputs).
    """

    def __init__(self, model, method='logits'):
        super().__init__()
        self.method = method
        with self.init_scope():
            self.model = model

    def forward(self, x):
        return getattr(self.model, self.method)(x)


def frozen_soundnet_feature(model):
    """``feature`` for a frozen SoundNet: its scene output, once per clip.

    A frozen SoundNet (inference-mode BN, fixed weights) gives each clip
    the same output every epoch, so it is computed once and cached like a
    decoded waveform; training then runs only the LSTMs and dense layers.
    """
    from chainer_tagger.links.model.music2vec import fit_waveform
    decode = waveform_feature(22050)
    lock = threading.Lock()

    def feature(path):
        x = fit_waveform(decode(path))[None]
        with lock, chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            h = model.soundnet.scenes(model.xp.asarray(x))
        return chainer.backends.cuda.to_cpu(h.array[0])
    return feature


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    if chainer.backends.cuda.available:
        import cupy
        cupy.random.seed(seed)


def clip_input(arch):
    """``(kind, feature, transform)``: how clips are fed to an architecture.

    ``feature(path)`` is computed once per clip and cached on disk;
    ``transform`` turns the cached array into the model's input.
    """
    if arch == 'music2vec':
        from chainer_tagger.links.model.music2vec import fit_waveform
        return 'waveform22050', waveform_feature(22050), fit_waveform
    from chainer_tagger.inputs import read_input
    return 'choi-melgram', read_input, _add_channel_axis


def _add_channel_axis(x):
    return x[None]


def build(model, freeze_soundnet=False, dropout=0.2):
    """The model to train and how its clips are fed.

    Returns
    -------
    model : chainer.Chain
    kind : str
        Cache key of the input feature.
    feature : callable
        ``path -> array`` (decoded once per clip and cached).
    transform : callable
        Cached array -> model input.
    meta : dict
        Architecture and settings for the saved model file.
    """
    from chainer_tagger.links.model import Music2Vec
    from chainer_tagger.pretrained import load_model
    if model == 'music2vec':
        m = Music2Vec(tags=GTZAN_GENRES, freeze_soundnet=freeze_soundnet,
                      dropout=dropout, soundnet='soundnet8')
        return (m,) + clip_input('music2vec') + (
            {'arch': 'music2vec', 'settings': m.settings,
             'base': 'soundnet8'},)
    # Transfer learning like jsalbert's: a tagger with a new 10-genre top.
    base = load_model(model)
    if not hasattr(base, 'gru2'):
        raise TrainingError('fine-tuning is for the CRNN taggers (crnn-msd, '
                         'crnn-gtzan, rnn0-msd), not {}'.format(model))
    n_features = base.output.W.shape[1]
    del base.output
    with base.init_scope():
        base.output = L.Linear(n_features, len(GTZAN_GENRES))
    base.tags = GTZAN_GENRES
    settings = dict(base.settings, tags=list(GTZAN_GENRES))
    base.settings = settings
    return (base,) + clip_input('crnn') + (
        {'arch': 'crnn', 'settings': settings, 'base': str(model)},)


def train(model='music2vec', data=None, out='result', epochs=20,
          batch_size=8, optimizer='rmsprop', lr=1e-4, gpu=None, resume=False,
          seed=0, test_fraction=DEFAULT_TEST_FRACTION, snapshot_every=None,
          freeze_soundnet=False, dropout=0.2, progress=True, embeddings=True,
          cache_dir=None, distributed=False):
    """Train and return the path of the best model (see module docstring).

    With ``distributed=True`` (under ``mpiexec``) the run is data-parallel
    over the MPI processes (:mod:`chainer_tagger.distributed`).
    """
    from chainer_tagger.pretrained import cache_dir as default_cache
    comm = None
    if distributed:
        from chainer_tagger import distributed as dist
        if resume:
            raise TrainingError('--resume is not supported with --distributed '
                             'yet: restart the run, or resume it on one '
                             'process')
        comm = dist.create_communicator(gpu)
        if gpu is not None and gpu >= 0:
            gpu = comm.intra_rank
    rank0 = comm is None or comm.rank == 0
    progress = progress and rank0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    device = get_device(gpu)
    net, kind, feature, transform, meta = build(model, freeze_soundnet,
                                                dropout)
    cache_dir = Path(cache_dir) if cache_dir else default_cache() / 'features'
    method = 'logits'
    if meta['arch'] == 'music2vec' and freeze_soundnet:
        net.to_device(device)
        feature, kind, transform = frozen_soundnet_feature(net), \
            'soundnet8-scenes', None
        method = 'head'
    if comm is not None and not rank0:
        comm.mpi_comm.Barrier()  # rank 0 decodes and caches first
    gtzan = GTZAN(data, feature, kind, cache_dir, progress=progress)
    if comm is not None and rank0:
        comm.mpi_comm.Barrier()
    train_idx, test_idx = gtzan.split(test_fraction, seed)
    meta['training'] = {'data': str(Path(data).resolve()), 'seed': seed,
                        'test_fraction': test_fraction, 'epochs': epochs,
                        'batch_size': batch_size, 'optimizer': optimizer,
                        'lr': lr, 'n_train': len(train_idx),
                        'n_test': len(test_idx)}
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
    opt = {'rmsprop': lambda: chainer.optimizers.RMSprop(lr=lr),
           'adam': lambda: chainer.optimizers.Adam(alpha=lr)}[optimizer]()
    if comm is not None:
        import chainermn
        opt = chainermn.create_multi_node_optimizer(opt, comm)
    opt.setup(classifier)

    train_iter = chainer.iterators.SerialIterator(
        gtzan.subset(train_idx, transform), batch_size,
        order_sampler=SeededOrderSampler(seed))
    updater = training.updaters.StandardUpdater(train_iter, opt,
                                                device=device)
    trainer = training.Trainer(updater, (epochs, 'epoch'), out=str(out))

    if has_test:
        test_iter = chainer.iterators.SerialIterator(
            gtzan.subset(test_idx, transform), batch_size, repeat=False,
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
    trainer.extend(extensions.LogReport(trigger=(1, 'epoch')))
    trainer.extend(extensions.PlotReport(
        ['main/loss', 'validation/main/loss'], 'epoch',
        filename='loss.png'))
    trainer.extend(extensions.PlotReport(
        ['main/accuracy', 'validation/main/accuracy'], 'epoch',
        filename='accuracy.png'))
    trainer.extend(extensions.PrintReport(
        ['epoch', 'iteration', 'main/loss', 'main/accuracy',
         'validation/main/loss', 'validation/main/accuracy',
         'elapsed_time']))
    if progress:
        trainer.extend(extensions.ProgressBar(update_interval=1))

    def snapshot_due(trainer):
        it = trainer.updater.iteration
        return trainer.updater.is_new_epoch or bool(
            snapshot_every and it % snapshot_every == 0)
    trainer.extend(extensions.snapshot(
        filename='snapshot_iter_{.updater.iteration}', autoload=resume,
        n_retains=2), trigger=snapshot_due)

    best_path = out / 'best_model.npz'
    key = 'validation/main/accuracy' if has_test else 'main/accuracy'

    @training.make_extension(trigger=triggers.MaxValueTrigger(
        key, trigger=(1, 'epoch')), priority=-100)
    def save_best(trainer):
        save_model_npz(best_path, net, dict(
            meta, epoch=trainer.updater.epoch,
            accuracy=float(trainer.observation.get(key, np.nan))))
    trainer.extend(save_best, name='save_best')

    embeddings = embeddings and meta['arch'] == 'music2vec' and \
        not freeze_soundnet  # a frozen body's embeddings do not change
    before = None
    if embeddings and not resume:
        from chainer_tagger.embedding import embed_gtzan
        before = embed_gtzan(net, gtzan, transform, batch_size)
        np.save(out / 'embeddings_before.npy', before)
    trainer.run()
    save_model_npz(out / 'model.npz', net, dict(meta, epoch=epochs))
    if embeddings:
        from chainer_tagger.embedding import embed_gtzan, plot_embeddings
        if before is None and (out / 'embeddings_before.npy').is_file():
            before = np.load(out / 'embeddings_before.npy')
        after = embed_gtzan(net, gtzan, transform, batch_size)
        np.save(out / 'embeddings_after.npy', after)
        np.save(out / 'embedding_labels.npy', gtzan.labels)
        for name, emb in (('before', before), ('after', after)):
            if emb is not None:
                plot_embeddings(emb, gtzan.labels, GTZAN_GENRES,
                                out / 'embeddings_{}'.format(name),
                                'SoundNet embeddings {} training'.format(
                                    name), seed=seed)
    if not best_path.is_file():
        save_model_npz(best_path, net, dict(meta, epoch=epochs))
    return best_path
