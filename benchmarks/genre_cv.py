"""Held-out accuracy of the training recipes: repeated stratified k-fold
cross-validation of the CLI's defaults on a GTZAN-layout folder.

    python benchmarks/genre_cv.py --data ../shared/gtzan-mini --out cv/ \\
        --seeds 1 2 --models music2vec crnn-msd probe:soundnet8 probe:crnn-msd

For each seed, each genre's clips (sorted by name) are permuted with
``numpy.random.RandomState(seed)``, genre after genre in GTZAN order, and
cut into ``--folds`` folds (clip ``k`` of every genre's permutation is in
fold ``k mod folds``).  Each fold is held out once: the other clips are
linked into a folder of their own and the model is trained there with
``chainer-tagger train --model M --data FOLDER --out RUN`` and nothing else
(a probe: ``--model probe --features F``), so that the training run picks
its own validation clips among them; the held-out clips are then scored
with ``chainer-tagger evaluate --model RUN/best_model.npz --data TEST``.
The held-out clips are never seen in training, not even to choose the
best epoch.

Writes ``results.json`` (every fold's accuracy, loss and run time) and
prints, per model, the accuracy over all held-out clips of each seed and
the mean and standard deviation over folds.  ``--extra 'ARGS'`` adds
arguments to every ``train`` (to compare a variant with the defaults).
"""
import argparse
import json
import os
import resource
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from chainer_tagger.cli import main as cli
from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.datasets.gtzan import find_clips


def folds(labels, seed, k):
    """Fold number of every clip (see the module docstring)."""
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    fold = np.zeros(len(labels), int)
    for genre in range(len(GTZAN_GENRES)):
        idx = np.flatnonzero(labels == genre)
        fold[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % k
    return fold


def link_folder(root, clips):
    """A GTZAN-layout folder of links to ``clips``."""
    for path, label in clips:
        target = root / 'genres' / GTZAN_GENRES[label] / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(path.resolve(), target)
    return root


def run_fold(model, clips, fold, k, work, extra):
    train = link_folder(work / 'train', [c for c, f in zip(clips, fold)
                                         if f != k])
    test = link_folder(work / 'test', [c for c, f in zip(clips, fold)
                                       if f == k])
    args = ['--model', model]
    if model.startswith('probe:'):
        args = ['--model', 'probe', '--features', model.split(':', 1)[1]]
    # A fold left unfinished starts again (train refuses a folder that
    # holds a run).
    shutil.rmtree(work / 'run', ignore_errors=True)
    t0 = time.time()
    status = cli(['train', '--data', str(train), '--out', str(work / 'run'),
                  '--no-progress'] + args + extra)
    seconds = time.time() - t0
    if status != 0:
        raise SystemExit('training failed: {} fold {}'.format(model, k))
    cli(['evaluate', '--model', str(work / 'run' / 'best_model.npz'),
         '--data', str(test), '--out', str(work), '--no-progress'])
    report = json.loads((work / 'evaluation-test-all.json').read_text())
    log = json.loads((work / 'run' / 'log').read_text())
    return {'accuracy': report['accuracy'], 'loss': report['loss'],
            'n_test': report['n_clips'], 'train_seconds': seconds,
            'epochs': len(log),
            'seconds_per_epoch': log[-1]['elapsed_time'] / len(log)}


def summary(results):
    lines = []
    for model, runs in results.items():
        accs = [r['accuracy'] for r in runs]
        per_seed = {}
        for r in runs:
            per_seed.setdefault(r['seed'], []).append(
                (r['accuracy'] * r['n_test'], r['n_test']))
        pooled = ', '.join('seed {}: {:.3f}'.format(
            s, sum(a for a, _ in v) / sum(n for _, n in v))
            for s, v in sorted(per_seed.items()))
        lines.append('{:<18} folds {:>2}  accuracy {:.3f} +- {:.3f} (std '
                     'over folds)  [{}]  {:.0f} s a run'.format(
                         model, len(accs), np.mean(accs), np.std(accs),
                         pooled, np.mean([r['train_seconds']
                                          for r in runs])))
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--models', nargs='+',
                   default=['music2vec', 'crnn-msd', 'probe:soundnet8',
                            'probe:crnn-msd'])
    p.add_argument('--seeds', nargs='+', type=int, default=[1, 2])
    p.add_argument('--folds', type=int, default=7)
    p.add_argument('--only-folds', type=int, nargs='*', default=None,
                   help='run these folds only (for a quick look)')
    p.add_argument('--extra', default='',
                   help='arguments added to every train command')
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = find_clips(args.data)
    labels = [label for _, label in clips]
    extra = shlex.split(args.extra)
    path = out / 'results.json'
    results = json.loads(path.read_text()) if path.is_file() else {}
    for model in args.models:
        for seed in args.seeds:
            fold = folds(labels, seed, args.folds)
            for k in (args.only_folds if args.only_folds is not None
                      else range(args.folds)):
                done = {(r['seed'], r['fold'])
                        for r in results.get(model, [])}
                if (seed, k) in done:
                    continue
                work = out / model.replace(':', '-') / 'seed{}-fold{}'.format(
                    seed, k)
                r = run_fold(model, clips, fold, k, work, extra)
                r.update(seed=seed, fold=k)
                results.setdefault(model, []).append(r)
                path.write_text(json.dumps(results, indent=1))
                print('{} seed {} fold {}: accuracy {:.2f} ({:.0f} s)'.format(
                    model, seed, k, r['accuracy'], r['train_seconds']),
                    file=sys.stderr, flush=True)
    print(summary(results))
    print('peak RSS {:.0f} MiB'.format(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == '__main__':
    main()
