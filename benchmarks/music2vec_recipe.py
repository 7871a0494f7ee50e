"""How the music2vec recipe was chosen: its variants against the probe on
the same frozen SoundNet outputs, in three recording conditions.

    python benchmarks/music2vec_recipe.py --data ../shared/gtzan-mini \\
        --cache cv-features/ --seeds 0 1 2

SoundNet is frozen in the recipe, so every variant of the head trains on
the same cached ``conv8_2`` outputs of each clip's 8 evaluation windows
(computed once here by the product's :class:`FrozenBodyOutputs`, also for
the clips played 10 dB quieter and band-limited to 150-5000 Hz: the
perturbations of ``genre_cv.py``).  The folds are ``genre_cv.py``'s
(repeated stratified 7-fold; the run's own split takes one clip per genre
of the training clips for validation), and every variant is paired with
the product's probe (:func:`~chainer_tagger.training.probe.fit_linear`) on
the same fold.

For speed the heads of all folds and seeds train at once: each is the
product's head (standardization of the training windows, two LSTMs of 200
units, Dense 400/100/10; LeCun-normal weights, zero biases; Adam) written
as grouped matrix products, one independent head per fold, so that a
variant over 21 folds costs minutes, not hours.  The product itself is
checked with ``genre_cv.py``.

Variant options (JSON): ``dropout`` (between the LSTMs and before the dense
layers), ``drop_in`` (on the scenes), ``adamw`` (Adam's decoupled weight
decay), ``select: "val"`` (the epoch of best validation accuracy) or
``swa_from`` (the mean of the weights from that fraction of the epochs
on), ``mixup`` (Beta parameter), ``lr``, ``epochs``, ``gains`` (training
gains in dB: each training example is drawn at 0 dB or one of these, from
the SoundNet outputs of the clips played at that level, cached like the
conditions; evaluation takes the clips as they are); ``--heads N``
averages N heads per fold.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import chainer
import chainer.functions as F
from chainer import Parameter

from recording import Recorder, add_results_option

from chainer_tagger.audio import load_audio
from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.datasets.gtzan import find_clips
from chainer_tagger.models import Music2Vec
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.training.inputs import evaluation_inputs
from chainer_tagger.training.probe import fit_linear

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genre_cv import PERTURBATIONS, folds as cv_folds  # noqa: E402

NC, U = len(GTZAN_GENRES), 200


def _gain(db):
    return lambda y, sr: y * np.float32(10 ** (db / 20.0))


def features(data, cache, gains=()):
    """``{condition: (clips, windows, 401, steps)}`` and the labels; with
    ``gains``, ``{gain: ...}`` of the clips played at those levels."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    clips = find_clips(data)
    labels = np.array([label for _, label in clips])
    net = Music2Vec(input_fill='loop', soundnet='soundnet8').freeze_body()
    out, levels = {}, {}
    for name, perturb in [('clean', None)] + list(PERTURBATIONS.items()) + \
            [('gain{:+g}'.format(g), _gain(g)) for g in gains]:
        path = cache / '{}.npy'.format(name.replace(' ', '_'))
        if not path.is_file():
            rows = []
            for clip, _ in clips:
                y, sr = load_audio(str(clip), sr=22050)
                if perturb is not None:
                    y = perturb(y, sr).astype(np.float32)
                x = evaluation_inputs(y, net.clip_input, 8)
                rows.append(run_in_batches(net, net.body, x, len(x)))
            np.save(path, np.stack(rows))
        if name.startswith('gain'):
            levels[float(name[4:])] = np.load(path).astype(np.float32)
        else:
            out[name] = np.load(path).astype(np.float32)
    return (out, levels, labels) if gains else (out, labels)


def _splits(labels, seeds, k=7):
    for seed in seeds:
        fold = cv_folds(labels, seed, k)
        for f in range(k):
            test = np.flatnonzero(fold == f)
            rest = np.flatnonzero(fold != f)
            rng = np.random.RandomState(seed * 100 + f + 1000)
            val = np.array([rng.choice(rest[labels[rest] == g])
                            for g in range(NC)])
            yield seed, f, np.setdiff1d(rest, val), val, test


class Heads(chainer.Chain):
    """K independent music2vec heads as grouped matrix products."""

    def __init__(self, k, channels, steps, rng):
        super().__init__()

        def w(*shape):
            return Parameter(rng.normal(0, shape[-2] ** -0.5, shape)
                             .astype(np.float32))

        def b(*shape):
            return Parameter(np.zeros(shape, np.float32))
        with self.init_scope():
            self.wx1, self.wh1 = w(k, channels, 4 * U), w(k, U, 4 * U)
            self.wx2, self.wh2 = w(k, U, 4 * U), w(k, U, 4 * U)
            self.b1, self.b2 = b(k, 1, 1, 4 * U), b(k, 1, 1, 4 * U)
            self.f1, self.c1 = w(k, steps * U, 400), b(k, 1, 400)
            self.f2, self.c2 = w(k, 400, 100), b(k, 1, 100)
            self.f3, self.c3 = w(k, 100, NC), b(k, 1, NC)

    def __call__(self, x, dropout=0.0, drop_in=0.0):
        k, n, steps = x.shape[:3]
        h = F.dropout(x, drop_in) if drop_in else x
        for layer, (wx, wh, bias) in enumerate(((self.wx1, self.wh1,
                                                 self.b1),
                                                (self.wx2, self.wh2,
                                                 self.b2))):
            if layer and dropout:
                h = F.dropout(h, dropout)
            z = F.reshape(F.matmul(F.reshape(h, (k, n * steps, -1)), wx),
                          (k, n, steps, 4 * U)) + F.broadcast_to(
                bias, (k, n, steps, 4 * U))
            hs, state = [], None
            c = np.zeros((k * n, U), np.float32)
            for t in range(steps):
                zt = z[:, :, t]
                if state is not None:
                    zt = zt + F.matmul(state, wh)
                c, out = F.lstm(c, F.reshape(zt, (k * n, 4 * U)))
                state = F.reshape(out, (k, n, U))
                hs.append(state)
            h = F.stack(hs, axis=2)
        h = F.reshape(h, (k, n, -1))
        if dropout:
            h = F.dropout(h, dropout)
        h = F.relu(F.matmul(h, self.f1) + F.broadcast_to(self.c1,
                                                          (k, n, 400)))
        h = F.relu(F.matmul(h, self.f2) + F.broadcast_to(self.c2,
                                                          (k, n, 100)))
        return F.matmul(h, self.f3) + F.broadcast_to(self.c3, (k, n, NC))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def heads_accuracy(feats, labels, splits, cfg, heads=1, seed=0,
                   levels=None):
    """Held-out accuracy of the variant ``cfg`` per (seed, fold) and
    condition (``levels``: ``{gain: outputs}`` for ``cfg['gains']``)."""
    x = feats['clean']
    train_levels = [x] + [levels[float(g)] for g in cfg.get('gains', [])]
    _, w, c, t = x.shape
    jobs = [s for s in splits for _ in range(heads)]
    k = len(jobs)
    rng = np.random.RandomState(seed)
    np.random.seed(seed)
    mean = np.stack([x[j[2]].reshape(-1, c, t).mean(0) for j in jobs])
    std = np.maximum(np.stack([x[j[2]].reshape(-1, c, t).std(0)
                               for j in jobs]), 1e-3)

    def prep(a, i):  # (n, C, T) -> (n, T, C), standardized for job i
        return ((a - mean[i]) / std[i]).transpose(0, 2, 1)
    net = Heads(k, c, t, rng)
    opt = chainer.optimizers.Adam(alpha=cfg.get('lr', 3e-4),
                                  weight_decay_rate=cfg.get('adamw', 0.0))
    opt.setup(net)
    epochs, batch = cfg.get('epochs', 60), 8
    n_train = len(jobs[0][2])
    average_from = int(epochs * cfg.get('swa_from', 2.0))
    mean_w, count, best = None, 0, [(-1, 0, None)] * k

    def predict(a, idx):  # -> (k, n, NC)
        xs = np.stack([np.stack([prep(a[j], i) for j in job[idx]])
                       for i, job in enumerate(jobs)])
        n = xs.shape[1]
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            z = net(xs.reshape(k, n * w, t, c)).array
        return _softmax(z).reshape(k, n, w, NC).mean(2)
    for epoch in range(epochs):
        orders = [rng.permutation(n_train) for _ in range(k)]
        for s in range(0, n_train, batch):
            xb, tb = [], []
            for i, job in enumerate(jobs):
                b = job[2][orders[i][s:s + batch]]
                level = rng.randint(len(train_levels), size=len(b)) \
                    if len(train_levels) > 1 else np.zeros(len(b), int)
                xb.append(prep(np.stack([
                    train_levels[g][c, v] for g, c, v in zip(
                        level, b, rng.randint(w, size=len(b)))]), i))
                tb.append(labels[b])
            xb, target = np.stack(xb), np.eye(NC, dtype=np.float32)[
                np.stack(tb)]
            if cfg.get('mixup'):
                lam = rng.beta(cfg['mixup'], cfg['mixup'],
                               (k, len(b), 1)).astype(np.float32)
                lam = np.maximum(lam, 1 - lam)
                perm = np.stack([rng.permutation(len(b)) for _ in range(k)])
                xb = lam[..., None] * xb + (1 - lam[..., None]) * \
                    np.take_along_axis(xb, perm[:, :, None, None], 1)
                target = lam * target + (1 - lam) * np.take_along_axis(
                    target, perm[:, :, None], 1)
            with chainer.using_config('train', True):
                z = net(xb, cfg.get('dropout', 0.2), cfg.get('drop_in', 0))
                loss = -F.sum(target * F.log_softmax(z, axis=2)) / len(b)
            net.cleargrads()
            loss.backward()
            opt.update()
        if epoch + 1 > average_from:
            now = {n: p.array.copy() for n, p in net.namedparams()}
            count += 1
            mean_w = now if mean_w is None else {
                n: mean_w[n] + (now[n] - mean_w[n]) / count for n in now}
        if cfg.get('select') == 'val':
            pv = predict(x, 3)
            yv = np.stack([labels[job[3]] for job in jobs])
            acc = (pv.argmax(-1) == yv).mean(1)
            loss_v = -np.log(np.take_along_axis(pv, yv[..., None], 2)
                             + 1e-12).mean((1, 2))
            for i in range(k):
                if acc[i] > best[i][0] or (acc[i] == best[i][0] and
                                           loss_v[i] < best[i][1]):
                    best[i] = (acc[i], loss_v[i], {
                        n: p.array[i].copy() for n, p in net.namedparams()})
    if cfg.get('select') == 'val':
        for n, p in net.namedparams():
            p.array[...] = np.stack([best[i][2][n] for i in range(k)])
    elif mean_w is not None:
        for n, p in net.namedparams():
            p.array[...] = mean_w[n]
    result = {}
    for name, a in feats.items():
        probs = predict(a, 4)
        pooled = {}
        for i, job in enumerate(jobs):
            pooled.setdefault(job[:2], [0, labels[job[4]]])
            pooled[job[:2]][0] = pooled[job[:2]][0] + probs[i]
        result[name] = {key: float((p.argmax(-1) == y).mean())
                        for key, (p, y) in pooled.items()}
    return result


def probe_accuracy(feats, labels, splits):
    x = feats['clean']
    w = x.shape[1]
    result = {}
    for seed, f, train, _, test in splits:
        rows = x[train].reshape(len(train) * w, -1)
        mean, scale, weight, bias = fit_linear(
            rows, np.repeat(labels[train], w), np.full(len(rows), 1.0 / w),
            NC)
        for name, a in feats.items():
            z = ((a[test].reshape(len(test) * w, -1) - mean) / scale) @ \
                weight.T + bias
            p = _softmax(z).reshape(len(test), w, NC).mean(1)
            result.setdefault(name, {})[seed, f] = float(
                (p.argmax(-1) == labels[test]).mean())
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', required=True)
    p.add_argument('--cache', required=True,
                   help='folder for the SoundNet outputs of each condition')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--variants', default='[{"select": "val"}]',
                   help='JSON list of variants (see the module docstring)')
    p.add_argument('--heads', type=int, default=1)
    add_results_option(p, 'music2vec_recipe')
    args = p.parse_args(argv)
    variants = json.loads(args.variants)
    gains = sorted({float(g) for v in variants for g in v.get('gains', [])})
    feats, *levels, labels = features(args.data, args.cache, gains)
    levels = levels[0] if levels else None
    splits = list(_splits(labels, args.seeds))
    probe = probe_accuracy(feats, labels, splits)
    recorder = Recorder('music2vec_recipe')
    rows = recorder.table(
        'variants', 'music2vec head variants against the probe, {} folds '
        '(seeds {}): accuracy and paired difference ± its standard error'
        .format(len(splits), ', '.join(map(str, args.seeds))),
        ['variant', 'heads'] + list(feats))
    for cfg in variants:
        t0 = time.time()
        acc = heads_accuracy(feats, labels, splits, cfg, args.heads,
                             levels=levels)
        cells = [json.dumps(cfg, sort_keys=True), str(args.heads)]
        for name in feats:
            keys = sorted(acc[name])
            a = np.array([acc[name][q] for q in keys])
            d = a - np.array([probe[name][q] for q in keys])
            cells.append('{:.3f} ({:+.3f} ± {:.3f})'.format(
                a.mean(), d.mean(), d.std(ddof=1) / np.sqrt(len(d))))
        rows.append(cells)
        print(' | '.join(cells), '({:.0f} s)'.format(time.time() - t0),
              flush=True)
    probe_cells = ['probe (C = 0.01)', '']
    for name in feats:
        probe_cells.append('{:.3f}'.format(np.mean(list(
            probe[name].values()))))
    rows.append(probe_cells)
    recorder.write(args.results)


if __name__ == '__main__':
    main()
