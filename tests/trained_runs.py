"""Helpers of the training tests, computed without the package."""
import numpy as np
import soundfile as sf

#: A short run: 2 genres x 4 clips of 2 s, 1 clip per genre held out, so
#: 2 held-out clips of 2 windows each: 4 windows, and batches of 3 leave a
#: last batch of 1.
WINDOWS = 2
TRAIN_ARGS = ['--epochs', '3', '--batch-size', '3', '--test-fraction',
              '0.25', '--windows', str(WINDOWS), '--no-progress']


def looped_windows(path, n_samples, count=WINDOWS):
    """A short clip's evaluation windows, computed here without the
    package: ``count`` rotations of the clip, each repeated to
    ``n_samples`` (the fixture's clips are at 22,050 Hz already)."""
    y, _ = sf.read(path, dtype='float32')
    n = len(y)
    return np.stack([np.tile(np.roll(y, -(j * n // count)),
                             n_samples // n + 1)[:n_samples]
                     for j in range(count)])


def params(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != '_meta'}
