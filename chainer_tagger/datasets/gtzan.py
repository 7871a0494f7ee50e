"""The GTZAN genre collection in its standard layout.

``<root>/genres/<genre>/<genre>.NNNNN.{wav,au}`` (``<root>`` may also be the
``genres`` folder itself).  Waveforms are decoded once, resampled to the
rate the model needs and cached on disk as ``.npy`` (read back memory-mapped),
so epochs after the first do not decode again.  Files that cannot be decoded
(the real GTZAN has a corrupt ``jazz.00054.wav``) are skipped with a warning.
"""
import concurrent.futures
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from chainer_tagger.atomic_file import (atomic_write, remove_stale_partials,
                                        writable_folder)
from chainer_tagger.audio import window_input
from chainer_tagger.audio.windows import centre_window
from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.errors import (ChainerTaggerWarning, DatasetError,
                                   InputError)

EXTENSIONS = ('.wav', '.au')

#: Test clips per genre in the original 950/50 split of the full set.
DEFAULT_TEST_FRACTION = 0.05


def find_clips(root):
    """``[(path, genre index)]`` of a GTZAN-layout folder, sorted."""
    root = Path(root)
    if (root / 'genres').is_dir():
        root = root / 'genres'
    if not root.is_dir():
        raise DatasetError('{}: no such folder'.format(root))
    clips = []
    for label, genre in enumerate(GTZAN_GENRES):
        folder = root / genre
        if not folder.is_dir():
            continue
        clips += [(p, label) for p in sorted(folder.iterdir())
                  if p.suffix.lower() in EXTENSIONS]
    if not clips:
        raise DatasetError(
            '{}: no clips found; expected <genre>/<genre>.NNNNN.wav for the '
            'genres {}'.format(root, ', '.join(GTZAN_GENRES)))
    return clips


def stratified_split(labels, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
    """Deterministic ``(train, test)`` index arrays, stratified by label.

    Each genre gives ``round(n * test_fraction)`` clips (at least one when
    ``test_fraction > 0``) to the test split: 5 per genre, 950/50, on the
    full GTZAN with the default fraction.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    train, test = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        if test_fraction > 0:
            n_test = min(max(n_test, 1), len(idx) - 1)
        test += list(idx[:n_test])
        train += list(idx[n_test:])
    return np.sort(train), np.sort(test)


def cache_key(path, kind):
    """The cache name of a clip's feature: the file it really is (a link
    to a clip shares its cache), its size and time, and the feature's
    kind."""
    st = os.stat(path)
    text = '{}|{}|{}|{}'.format(os.path.realpath(path), st.st_size,
                                st.st_mtime_ns, kind)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


class GTZAN:
    """Clips of a GTZAN-layout folder, decoded and cached.

    Parameters
    ----------
    root : path-like
    feature : callable
        ``feature(path) -> np.ndarray``: what a clip becomes (the decoded
        clip at a model's rate, or a frozen body's outputs on its
        windows).
    kind : str
        Name of the feature, part of the cache key.
    cache_dir : path-like
        Where decoded features are kept.
    progress : bool
        A progress bar on stderr while clips are decoded (default: none;
        the CLI asks for one when stderr is a terminal).

    Attributes
    ----------
    paths : list of Path
        Readable clips, in order.
    labels : np.ndarray of int32
    skipped : list of (Path, str)
        Unreadable clips and why.
    """

    def __init__(self, root, feature, kind, cache_dir, progress=False,
                 workers=None):
        clips = find_clips(root)
        self.cache_dir = Path(writable_folder(
            cache_dir, 'feature cache folder (under $CHAINER_TAGGER_CACHE)'))
        remove_stale_partials(self.cache_dir)
        self.kind = kind
        self._feature = feature
        self.paths, labels, self.skipped = [], [], []
        workers = workers or min(4, os.cpu_count() or 1)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(clips), unit='clip',
                       desc='decoding {}'.format(Path(root).name))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for (path, label), error in zip(clips, pool.map(
                    self._ensure_cached, [p for p, _ in clips])):
                if bar is not None:
                    bar.update(1)
                if error is not None:
                    self.skipped.append((path, error))
                    warnings.warn('skipping unreadable clip {}: {}'.format(
                        path, error), stacklevel=2)
                    continue
                self.paths.append(path)
                labels.append(label)
        if bar is not None:
            bar.close()
        self.labels = np.asarray(labels, np.int32)
        if not self.paths:
            raise DatasetError('{}: none of the clips could be read'.format(
                root))

    def _cached(self, path):
        return self.cache_dir / '{}.npy'.format(cache_key(path, self.kind))

    def _ensure_cached(self, path):
        target = self._cached(path)
        if target.is_file():
            try:  # the header and the file's size: a truncated file fails
                np.load(target, mmap_mode='r')
                return None
            except (ValueError, OSError, EOFError) as e:
                warnings.warn('cached features {} of {} are damaged ({}); '
                              'computing them again'.format(target, path, e),
                              ChainerTaggerWarning, stacklevel=2)
        try:
            value = np.asarray(self._feature(path), np.float32)
        except (InputError, ValueError) as e:
            return str(e)
        with atomic_write(target, 'wb', suffix='.npy') as f:
            np.save(f, value)
        return None

    def __len__(self):
        return len(self.paths)

    def feature(self, i):
        """Clip ``i``'s cached feature (memory-mapped)."""
        return np.load(self._cached(self.paths[i]), mmap_mode='r')

    def centre_inputs(self, clip_input):
        """The model inputs of every clip's centre window, a lazy sequence
        (slicing it reads only those clips); the cached features must be
        the decoded clips at ``clip_input.sample_rate``."""
        return _CentreInputs(self, clip_input)

    def split(self, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
        return stratified_split(self.labels, test_fraction, seed)


class _CentreInputs:
    def __init__(self, gtzan, clip_input):
        self.gtzan, self.clip_input = gtzan, clip_input

    def __len__(self):
        return len(self.gtzan)

    def _one(self, j):
        y = np.asarray(self.gtzan.feature(j))
        start, _ = centre_window(len(y), self.clip_input.n_samples)
        return window_input(y, start, self.clip_input)

    def __getitem__(self, s):
        if isinstance(s, slice):
            return [self._one(j) for j in range(len(self))[s]]
        return self._one(s)
