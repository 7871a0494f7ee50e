"""Peak memory and time of tagging a one-hour file.

    python benchmarks/long_file.py [--minutes 60] [--format mp3|flac|wav]

Writes a synthetic file of the given length (a chord with a slow tremolo,
44.1 kHz mono) to a temporary folder, tags it with `chainer-tagger tag` in
a child process and reports the child's peak RSS (ru_maxrss) and wall time.
Run it with CHAINER_TAGGER_WEIGHTS_DIR set, as for the tests.
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


def write_signal(path, minutes, sr=44100, fmt='MP3'):
    block = 60 * sr
    with sf.SoundFile(path, 'w', sr, 1, format=fmt) as f:
        for i in range(minutes):
            t = (np.arange(block) + i * block) / sr
            y = sum(np.sin(2 * np.pi * f0 * t) for f0 in (220, 277, 330))
            y *= 0.2 * (1 + 0.5 * np.sin(2 * np.pi * 0.2 * t))
            f.write(y.astype(np.float32))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--minutes', type=int, default=60)
    p.add_argument('--format', default='mp3', choices=('mp3', 'flac', 'wav'))
    p.add_argument('--model', default='crnn-msd')
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'long.' + args.format)
        write_signal(path, args.minutes, fmt=args.format.upper())
        size = os.path.getsize(path) / 2 ** 20
        start = time.time()
        subprocess.run([sys.executable, '-m', 'chainer_tagger.cli', 'tag',
                        '--model', args.model, '--no-progress', '--top', '3',
                        path], check=True)
        wall = time.time() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print('{} min {} ({:.0f} MiB): peak RSS {:.0f} MiB, {:.1f} s'.format(
        args.minutes, args.format, size, peak, wall))


if __name__ == '__main__':
    main()
