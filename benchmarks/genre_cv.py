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
the mean and standard deviation over folds, and for a trained model the
paired difference with the probe on its own features (``music2vec``:
``probe:soundnet8``; ``crnn-msd``: ``probe:crnn-msd``) and the folds won,
tied and lost.  That table, with the machine, date, commit and command, is
also written to ``benchmarks/results/genre_cv.json`` (``--results``),
which the documentation renders.  ``--extra 'ARGS'`` adds
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
import scipy.signal
import soundfile

from recording import Recorder, add_results_option

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


def _gain(y, sr):
    return y * np.float32(10 ** (-10 / 20))


def _band(y, sr):
    sos = scipy.signal.butter(4, [150, 5000], btype='bandpass', fs=sr,
                              output='sos')
    return scipy.signal.sosfilt(sos, y).astype(np.float32)


#: Other recording conditions of the held-out clips (same music, same
#: genre): 10 dB quieter, and band-limited to 150-5000 Hz (an old or cheap
#: recording).  SoundNet's scene outputs move by about half a standard
#: deviation under the first; a classifier that learned the recordings it
#: was trained on rather than their genre loses more than one that did not.
PERTURBATIONS = {'-10 dB': _gain, 'band 150-5000 Hz': _band}


def perturbed_folder(root, clips, perturb):
    """A GTZAN-layout folder of ``clips`` passed through ``perturb``."""
    for path, label in clips:
        target = root / 'genres' / GTZAN_GENRES[label] / (
            Path(path).stem + '.wav')
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        y, sr = soundfile.read(str(path), dtype='float32', always_2d=True)
        soundfile.write(str(target), perturb(y.mean(axis=1), sr), sr)
    return root


def _evaluate(work, model_file, data, name):
    cli(['evaluate', '--model', str(model_file), '--data', str(data),
         '--out', str(work / name), '--no-progress'])
    [path] = (work / name).glob('evaluation-*.json')
    return json.loads(path.read_text())


def run_fold(model, clips, fold, k, work, extra, seed=0):
    train = link_folder(work / 'train', [c for c, f in zip(clips, fold)
                                         if f != k])
    held_out = [c for c, f in zip(clips, fold) if f == k]
    test = link_folder(work / 'test', held_out)
    args = ['--model', model]
    if model.startswith('probe:'):
        args = ['--model', 'probe', '--features', model.split(':', 1)[1]]
    # A fold left unfinished starts again (train refuses a folder that
    # holds a run).
    shutil.rmtree(work / 'run', ignore_errors=True)
    t0 = time.time()
    status = cli(['train', '--data', str(train), '--out', str(work / 'run'),
                  '--seed', str(seed), '--no-progress'] + args + extra)
    seconds = time.time() - t0
    if status != 0:
        raise SystemExit('training failed: {} fold {}'.format(model, k))
    best = work / 'run' / 'best_model.npz'
    for name in ('evaluation',) + tuple(PERTURBATIONS):
        shutil.rmtree(work / name, ignore_errors=True)
    report = _evaluate(work, best, test, 'evaluation')
    perturbed = {name: _evaluate(work, best, perturbed_folder(
        work / 'test-{}'.format(i), held_out, perturb), name)['accuracy']
        for i, (name, perturb) in enumerate(PERTURBATIONS.items())}
    log = json.loads((work / 'run' / 'log').read_text())
    return {'accuracy': report['accuracy'], 'loss': report['loss'],
            'perturbed': perturbed,
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


def probe_of(model):
    """The probe a trained model is compared with: one on its own frozen
    features (``None`` for a probe)."""
    if model.startswith('probe:'):
        return None
    return 'probe:' + ('soundnet8' if model == 'music2vec' else model)


def summary_table(results, recorder, seeds):
    """The results table: per model each seed's pooled accuracy, mean and
    std over folds, and the paired difference with its probe."""
    def name(model):
        return ('probe on {}'.format(model.split(':', 1)[1])
                if model.startswith('probe:') else model)
    rows = recorder.table(
        'held_out', 'Held-out accuracy, {} folds a seed (seeds {})'.format(
            max((r['fold'] for runs in results.values() for r in runs),
                default=-1) + 1, ', '.join(str(s) for s in seeds)),
        ['model (defaults)'] + ['seed {}'.format(s) for s in seeds] + [
            'mean ± std over folds',
            'paired with its probe: difference, folds won/tied/lost'] + [
            '{}: mean, paired with its probe'.format(condition)
            for condition in PERTURBATIONS] + ['train time a run'])
    for model, runs in results.items():
        runs = [r for r in runs if r['seed'] in seeds]
        if not runs:
            continue
        accs = [r['accuracy'] for r in runs]
        cells = [name(model)]
        for seed in seeds:
            mine = [r for r in runs if r['seed'] == seed]
            n = sum(r['n_test'] for r in mine)
            cells.append('{:.3f}'.format(sum(
                r['accuracy'] * r['n_test'] for r in mine) / n) if n else '')
        cells.append('{:.3f} ± {:.3f}'.format(np.mean(accs), np.std(accs)))
        paired = ''
        probe = {(r['seed'], r['fold']): r['accuracy']
                 for r in results.get(probe_of(model) or '', [])}
        diffs = [r['accuracy'] - probe[r['seed'], r['fold']] for r in runs
                 if (r['seed'], r['fold']) in probe]
        if diffs:
            paired = '{:+.3f} ± {:.3f}, {}/{}/{}'.format(
                np.mean(diffs), np.std(diffs),
                sum(d > 1e-9 for d in diffs), sum(abs(d) <= 1e-9
                                                  for d in diffs),
                sum(d < -1e-9 for d in diffs))
        cells.append(paired)
        for condition in PERTURBATIONS:
            mine = [r['perturbed'][condition] for r in runs
                    if condition in r.get('perturbed', {})]
            theirs = {(r['seed'], r['fold']): r['perturbed'][condition]
                      for r in results.get(probe_of(model) or '', [])
                      if condition in r.get('perturbed', {})}
            d = [r['perturbed'][condition] - theirs[r['seed'], r['fold']]
                 for r in runs if condition in r.get('perturbed', {}) and
                 (r['seed'], r['fold']) in theirs]
            cells.append('{:.3f}{}'.format(np.mean(mine), ', {:+.3f}'.format(
                np.mean(d)) if d else '') if mine else '')
        cells.append('{:.0f} s'.format(np.mean([r['train_seconds']
                                                for r in runs])))
        rows.append(cells)


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
    add_results_option(p, 'genre_cv')
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
                r = run_fold(model, clips, fold, k, work, extra, seed)
                r.update(seed=seed, fold=k)
                results.setdefault(model, []).append(r)
                path.write_text(json.dumps(results, indent=1))
                print('{} seed {} fold {}: accuracy {:.2f} ({:.0f} s)'.format(
                    model, seed, k, r['accuracy'], r['train_seconds']),
                    file=sys.stderr, flush=True)
    print(summary(results))
    peak = 'peak RSS {:.0f} MiB'.format(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(peak)
    recorder = Recorder('genre_cv')
    summary_table(results, recorder, args.seeds)
    recorder.line('{} clips in {}; {}{}'.format(
        len(clips), args.data, peak, '; extra train arguments: ' + args.extra
        if args.extra else ''))
    recorder.write(args.results, note=None if args.only_folds is None else
                   'only folds {} (a quick look)'.format(args.only_folds))


if __name__ == '__main__':
    main()
