"""Peak memory and time of tagging a one-hour file.

    python benchmarks/long_file.py [--cases 1:mp3 60:mp3 60:flac]

For each case (minutes and format) writes a synthetic file of that length
(a chord with a slow tremolo, 44.1 kHz mono) to a temporary folder, tags it
with `chainer-tagger tag` in a child process of its own and reports the
child's peak RSS (ru_maxrss) and wall time (starting Python and loading the
model included).  The table, with the machine, date, commit and command, is
written to ``benchmarks/results/long_file.json`` (``--results``).  Run it
with CHAINER_TAGGER_WEIGHTS_DIR set, as for the tests.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from recording import Recorder, add_results_option


def write_signal(path, minutes, sr=44100, fmt='MP3'):
    block = 60 * sr
    with sf.SoundFile(path, 'w', sr, 1, format=fmt) as f:
        for i in range(minutes):
            t = (np.arange(block) + i * block) / sr
            y = sum(np.sin(2 * np.pi * f0 * t) for f0 in (220, 277, 330))
            y *= 0.2 * (1 + 0.5 * np.sin(2 * np.pi * 0.2 * t))
            f.write(y.astype(np.float32))


def case(text):
    """An argparse type: ``MINUTES:FORMAT``."""
    minutes, _, fmt = text.partition(':')
    if not minutes.isdigit() or int(minutes) < 1 or fmt not in (
            'mp3', 'flac', 'wav'):
        raise argparse.ArgumentTypeError(
            'expected MINUTES:mp3|flac|wav, not {!r}'.format(text))
    return int(minutes), fmt


def measure(minutes, fmt, model):
    """``(file MiB, peak RSS MiB, wall s)`` of tagging one synthetic file
    in a child process (``resource`` reports the largest child so far,
    so the cases run in grandchildren of their own)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'long.' + fmt)
        write_signal(path, minutes, fmt=fmt.upper())
        size = os.path.getsize(path) / 2 ** 20
        start = time.time()
        subprocess.run([sys.executable, '-m', 'chainer_tagger.cli', 'tag',
                        '--model', model, '--no-progress', '--top', '3',
                        path], check=True)
        wall = time.time() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return size, peak, wall


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--cases', nargs='+', type=case, default=[(60, 'mp3')],
                   metavar='MINUTES:FORMAT')
    p.add_argument('--model', default='crnn-msd')
    p.add_argument('--measure', nargs=2, help=argparse.SUPPRESS)
    add_results_option(p, 'long_file')
    args = p.parse_args()
    if args.measure:  # one case, in a child of its own
        print(' '.join(str(v) for v in measure(int(args.measure[0]),
                                                args.measure[1], args.model)))
        return
    recorder = Recorder('long_file')
    rows = recorder.table('long_file', 'Tagging one long file: {}, the '
                          'centre window'.format(args.model),
                          ['file', 'peak RSS', 'wall time'])
    for minutes, fmt in args.cases:
        out = subprocess.run([sys.executable, __file__, '--measure',
                              str(minutes), fmt, '--model', args.model],
                             check=True, capture_output=True, text=True)
        size, peak, wall = (float(v) for v in
                            out.stdout.strip().splitlines()[-1].split())
        print('{} min {} ({:.0f} MiB): peak RSS {:.0f} MiB, {:.1f} s'.format(
            minutes, fmt, size, peak, wall))
        rows.append(['{} min {} ({:.0f} MiB)'.format(minutes, fmt, size),
                     '{:.0f} MiB'.format(peak), '{:.1f} s'.format(wall)])
    recorder.write(args.results)


if __name__ == '__main__':
    main()
