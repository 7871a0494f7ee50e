"""Time and peak memory of default training runs.

    python benchmarks/training_time.py --data ../shared/gtzan-mini \\
        [--models music2vec crnn-msd probe:soundnet8]

Each model is trained with ``chainer-tagger train --model M --data DATA
--out RUN --no-progress`` and nothing else (a probe: ``--model probe
--features F``) in a child process of its own, on a cache of frozen-body
outputs that starts empty (the converted pretrained models are prepared
beforehand, so their conversion is not counted).  Reports each run's wall
time, its epochs and seconds per epoch (from the run's ``log``) and the
child's peak RSS, and writes the table, with the machine, date, commit and
command, to ``benchmarks/results/training_time.json`` (``--results``),
which the documentation renders.  Needs CHAINER_TAGGER_WEIGHTS_DIR, as the
tests.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recording import Recorder, add_results_option

PREPARE = ('from chainer_tagger.models import load_model; '
           'import sys; [load_model(n) for n in sys.argv[1:]]')


def train_once(model, data, cache):
    """``(wall s, epochs, s per epoch, peak RSS MiB)`` of one default run,
    measured in a child of this child (``RUSAGE_CHILDREN`` is the largest
    child so far)."""
    args = ['--model', model]
    if model.startswith('probe:'):
        args = ['--model', 'probe', '--features', model.split(':', 1)[1]]
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, CHAINER_TAGGER_CACHE=cache)
        start = time.time()
        subprocess.run([sys.executable, '-m', 'chainer_tagger.cli', 'train',
                        '--data', data, '--out', out, '--no-progress'] + args,
                       check=True, env=env)
        wall = time.time() - start
        log_path = Path(out) / 'log'
        log = json.loads(log_path.read_text()) if log_path.is_file() else []
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    epochs = len(log)
    per_epoch = log[-1]['elapsed_time'] / epochs if epochs else 0.0
    return wall, epochs, per_epoch, peak


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', required=True, help='a GTZAN-layout folder')
    p.add_argument('--models', nargs='+',
                   default=['music2vec', 'crnn-msd', 'probe:soundnet8'])
    p.add_argument('--measure', nargs=2, help=argparse.SUPPRESS)
    add_results_option(p, 'training_time')
    args = p.parse_args()
    if args.measure:  # one run, in a child of its own
        model, cache = args.measure
        print(' '.join(str(v) for v in train_once(model, args.data, cache)))
        return
    recorder = Recorder('training_time')
    rows = recorder.table(
        'training_time', 'One default training run on {}'.format(
            os.path.basename(os.path.normpath(args.data))),
        ['run', 'epochs × time', 'total', 'peak RSS'])
    for model in args.models:
        with tempfile.TemporaryDirectory() as cache:
            names = [m.split(':', 1)[-1] for m in (model,)]
            names = ['soundnet8' if n == 'music2vec' else n for n in names]
            subprocess.run([sys.executable, '-c', PREPARE] + names,
                           check=True, env=dict(os.environ,
                                                CHAINER_TAGGER_CACHE=cache))
            out = subprocess.run(
                [sys.executable, __file__, '--data', args.data, '--measure',
                 model, cache], check=True, capture_output=True, text=True)
        wall, epochs, per_epoch, peak = (float(v) for v in
                                         out.stdout.split()[-4:])
        line = ('{}: {:.0f} epochs x {:.1f} s, {:.0f} s in all, peak RSS '
                '{:.0f} MiB'.format(model, epochs, per_epoch, wall, peak))
        print(line)
        if model.startswith('probe:'):
            run = 'train --model probe --features {}'.format(
                model.split(':', 1)[1])
            schedule = 'one fit'
        else:
            run = 'train' + ('' if model == 'music2vec'
                             else ' --model ' + model) + (
                ' (music2vec)' if model == 'music2vec' else '')
            schedule = '{:.0f} × {:.1f} s'.format(epochs, per_epoch)
        rows.append([run, schedule, '{:.0f} s'.format(wall),
                     '{:.0f} MiB'.format(peak)])
    recorder.write(args.results)


if __name__ == '__main__':
    main()
