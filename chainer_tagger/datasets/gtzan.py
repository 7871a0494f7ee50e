"""The GTZAN genre collection in its standard layout.

``<root>/genres/<genre>/<genre>.NNNNN.{wav,au}`` (``<root>`` may also be the
``genres`` folder itself).  Waveforms are decoded once, resampled to the
rate the model needs and cached on disk as ``.npy`` (read back memory-mapped),
so epochs after the first do not decode again.  Files that cannot be decoded
(the real GTZAN has a corrupt ``jazz.00054.wav``) are skipped with a warning.
What ``tag`` would warn about a clip (cut short, mostly padding or the clip
repeated, silent) is measured once and cached beside the features
(``measure=True``), so that a training run can say it of every clip it
trains on (:meth:`GTZAN.quality_warnings`).
"""
import concurrent.futures
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from chainer_tagger.atomic_file import (atomic_write, remove_stale_partials,
                                        writable_folder)
from chainer_tagger.audio import AudioSource, window_input
from chainer_tagger.audio.quality import (padding_warning, peak_dbfs,
                                          silence_warning,
                                          truncation_warning)
from chainer_tagger.audio.windows import centre_window
from chainer_tagger.configuration import DEFAULT_TEST_FRACTION, GTZAN_GENRES
from chainer_tagger.errors import (ChainerTaggerWarning, DatasetError,
                                   InputError)

EXTENSIONS = ('.wav', '.au')


def _genres_folder(root):
    root = Path(root)
    if (root / 'genres').is_dir():
        root = root / 'genres'
    if not root.is_dir():
        raise DatasetError('{}: no such folder'.format(root))
    return root


def find_clips(root):
    """``[(path, genre index)]`` of a GTZAN-layout folder, sorted by genre
    and path.

    Genre folders are matched without regard to case (``Blues/`` is
    ``blues``): a folder that differs only by case from a genre holds that
    genre's clips, it is not dropped.
    """
    root = _genres_folder(root)
    folders = {}
    for folder in root.iterdir():
        genre = folder.name.lower()
        if genre in GTZAN_GENRES and folder.is_dir():
            folders.setdefault(genre, []).append(folder)
    clips = []
    for label, genre in enumerate(GTZAN_GENRES):
        clips += sorted((p, label) for folder in folders.get(genre, ())
                        for p in folder.iterdir()
                        if p.suffix.lower() in EXTENSIONS)
    if not clips:
        raise DatasetError(
            '{}: no clips found; expected <genre>/<genre>.NNNNN.wav for the '
            'genres {}'.format(root, ', '.join(GTZAN_GENRES)))
    return clips


def clip_files(root):
    """``[[relative path, size, mtime_ns]]`` of the clips of a GTZAN-layout
    folder, sorted: what a training run records of its data, to tell on
    ``--resume`` that the data is the same (it may have moved)."""
    base = _genres_folder(root)
    files = []
    for path, _ in find_clips(root):
        st = os.stat(path)
        files.append([path.relative_to(base).as_posix(), st.st_size,
                      st.st_mtime_ns])
    return sorted(files)


def shown_name(name):
    """A file name as one line of text: characters that are not printable
    (a newline, a tab, the escapes of bytes that are not UTF-8) become
    Python escapes (``\\n``, ``\\udcff``)."""
    return ''.join(c if c.isprintable() else
                   repr(c)[1:-1] for c in str(name))


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


def measure_clip(path):
    """What the warnings of a clip depend on: ``{'seconds'`` (decoded),
    ``'expected_seconds'`` (the header's, when it differs),
    ``'decoder_error'``, ``'peak_dbfs'}``."""
    source = AudioSource(path)
    expected = None if source.expected_samples is None else \
        source.expected_samples / float(source.samplerate)
    return {'seconds': source.duration, 'expected_seconds': expected,
            'decoder_error': source.decoder_error,
            'peak_dbfs': peak_dbfs(source.read())}


def quality_notes(measured, clip_input):
    """The warnings ``tag`` gives a clip of measurements ``measured``
    (:func:`measure_clip`) for a model that takes ``clip_input``
    (:mod:`chainer_tagger.audio.quality` words them)."""
    return [w for w in (
        truncation_warning(measured['seconds'], measured['expected_seconds'],
                           measured['decoder_error']),
        padding_warning(min(measured['seconds'], clip_input.seconds),
                        clip_input.seconds, clip_input.fill),
        silence_warning(measured['peak_dbfs'])) if w]


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
    measure : bool
        Also measure each clip for :meth:`quality_warnings` (once; the
        measurements are cached).

    Attributes
    ----------
    paths : list of Path
        Readable clips, in order.
    labels : np.ndarray of int32
    skipped : list of (Path, str)
        Unreadable clips and why.
    measured : list of dict or None
        With ``measure``: each clip's :func:`measure_clip`.
    """

    def __init__(self, root, feature, kind, cache_dir, progress=False,
                 workers=None, measure=False):
        clips = find_clips(root)
        self.root = _genres_folder(root)
        self.measured = [] if measure else None
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
            for (path, label), (error, measured) in zip(clips, pool.map(
                    self._ensure_cached, [p for p, _ in clips])):
                if bar is not None:
                    bar.update(1)
                if error is not None:
                    self.skipped.append((path, error))
                    warnings.warn('skipping unreadable clip {}: {}'.format(
                        shown_name(path), shown_name(error)), stacklevel=2)
                    continue
                self.paths.append(path)
                labels.append(label)
                if self.measured is not None:
                    self.measured.append(measured)
        if bar is not None:
            bar.close()
        self.labels = np.asarray(labels, np.int32)
        if not self.paths:
            raise DatasetError('{}: none of the clips could be read'.format(
                root))

    def _cached(self, path):
        return self.cache_dir / '{}.npy'.format(cache_key(path, self.kind))

    def _ensure_cached(self, path):
        """``(error, measurements)`` of a clip, its feature cached."""
        error = self._ensure_feature(path)
        if error is not None or self.measured is None:
            return error, None
        target = self.cache_dir / '{}.json'.format(cache_key(path,
                                                             'quality'))
        try:
            return None, json.loads(target.read_text())
        except (OSError, ValueError):
            pass  # not measured yet (or damaged): measure again
        try:
            measured = measure_clip(path)
        except (InputError, ValueError) as e:
            return str(e), None
        with atomic_write(target, 'w', suffix='.json') as f:
            f.write(json.dumps(measured))
        return None, measured

    def _ensure_feature(self, path):
        target = self._cached(path)
        if target.is_file():
            try:  # the header and the file's size: a truncated file fails
                np.load(target, mmap_mode='r')
                return None
            except (ValueError, OSError, EOFError) as e:
                warnings.warn('cached features {} of {} are damaged ({}); '
                              'computing them again'.format(
                                  target, shown_name(path), e),
                              ChainerTaggerWarning, stacklevel=2)
        try:
            value = np.asarray(self._feature(path), np.float32)
        except (InputError, ValueError) as e:
            return str(e)
        with atomic_write(target, 'wb', suffix='.npy') as f:
            np.save(f, value)
        return None

    def quality_warnings(self, clip_input):
        """``[(name, notes)]`` of the clips that ``tag`` would warn about
        with a model of ``clip_input`` (``name``: the path under the
        genres folder, escaped to one line; ``notes``: its warnings);
        needs ``measure=True``."""
        found = []
        for path, measured in zip(self.paths, self.measured):
            notes = quality_notes(measured, clip_input)
            if notes:
                found.append((shown_name(path.relative_to(self.root)),
                              notes))
        return found

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
