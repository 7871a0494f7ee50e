"""Tagging files: inputs -> mel-spectrograms -> model -> scores.

Mel-spectrograms are computed on a small thread pool (decoding, resampling
and the STFT release the GIL) a few batches ahead of the model, so feature
extraction overlaps the forward pass and memory stays bounded.
"""
import collections
import concurrent.futures
import os
from pathlib import Path

import numpy as np

from chainer_tagger.inputs import InputError, expand_paths, read_input


def _prefetch(function, items, workers, depth):
    """``(item, result or exception)`` in order, at most ``depth`` ahead."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque()
        items = iter(items)
        for item in items:
            pending.append((item, pool.submit(function, item)))
            if len(pending) >= depth:
                break
        while pending:
            item, future = pending.popleft()
            try:
                result = future.result()
            except InputError as e:
                result = e
            yield item, result
            for nxt in items:
                pending.append((nxt, pool.submit(function, nxt)))
                break


def _model_name(model):
    return getattr(model, 'name_in_registry', type(model).__name__)


def tag_melgrams(model, melgrams, batch_size=16):
    """Scores of a sequence of ``(96, 1366)`` melgrams, ``(N, n_tags)``."""
    return model.predict(np.stack(melgrams), batch_size=batch_size)


def tag_windows(model, path, hop=None, batch_size=16, workers=None):
    """Scores of every 29.12 s window of one file.

    Returns
    -------
    starts : np.ndarray
        Window starts in seconds.
    scores : np.ndarray, shape (windows, n_tags)

    Windows are computed a few batches ahead on a thread pool and only
    their scores are kept, so memory stays bounded for long files.
    """
    from chainer_tagger.audio import AudioDecodeError, AudioSource
    from chainer_tagger.features import (DURATION, SR, window_melgram,
                                         window_starts)
    try:
        source = AudioSource(path)
    except AudioDecodeError as e:
        raise InputError(str(e)) from None
    starts = window_starts(source.length_at(SR), hop or DURATION)
    workers = workers or min(4, os.cpu_count() or 1)
    def compute(start):
        try:
            return window_melgram(source, start)
        except AudioDecodeError as e:
            raise InputError(str(e)) from None

    scores, batch = [], []
    for _, mel in _prefetch(compute, starts, workers,
                            depth=batch_size + workers):
        if isinstance(mel, Exception):
            raise mel
        batch.append(mel)
        if len(batch) == batch_size:
            scores.append(tag_melgrams(model, batch, batch_size))
            batch = []
    if batch:
        scores.append(tag_melgrams(model, batch, len(batch)))
    return np.asarray(starts) / float(SR), np.concatenate(scores)


AGGREGATES = {'mean': lambda s: s.mean(axis=0),
              'max': lambda s: s.max(axis=0)}


def _tag_whole_files(model, files, name, hop, aggregate, batch_size,
                     workers, bar):
    results = []
    for path in files:
        try:
            if Path(path).suffix.lower() == '.npy':
                raise InputError('{}: --window full needs audio, not a '
                                 'melgram .npy'.format(path))
            starts, scores = tag_windows(model, path, hop, batch_size,
                                         workers)
        except InputError as e:
            results.append({'path': str(path), 'model': name,
                            'error': str(e)})
        else:
            s = AGGREGATES[aggregate](scores)
            order = np.argsort(-s, kind='stable')
            results.append({
                'path': str(path), 'model': name, 'windows': len(starts),
                'aggregate': aggregate,
                'tags': [{'tag': model.tags[j], 'score': float(s[j])}
                         for j in order]})
        if bar is not None:
            bar.update(1)
    return results


def tag(paths, model='crnn-msd', batch_size=16, gpu=None, progress=False,
        workers=None, per_clip=False, window='centre', hop=None,
        aggregate='mean'):
    """Tag audio files, folders of them, or ``.npy`` melgrams.

    Parameters
    ----------
    paths : str, path-like or list of them
    model : str or MelgramTagger
        A registry name, a model file, or a loaded model.
    batch_size : int
        Clips per forward pass.  Models with BN mode 2 ('cnn0-msd',
        'rnn0-msd') normalise over each batch, so their scores depend on it.
    gpu : int, optional
        CUDA device id (needs CuPy).
    progress : bool
        Show a progress bar (tqdm) when there are more than a few files.
    workers : int, optional
        Threads computing mel-spectrograms (default: number of CPUs, at
        most 4).
    per_clip : bool
        For BN-mode-2 models, normalise each clip on its own.
    window : {'centre', 'full'}
        ``'centre'``: the centre 29.12 s, as the original; ``'full'``: slide
        29.12 s windows over the whole file every ``hop`` seconds (default
        29.12) and aggregate their scores with ``aggregate`` (``'mean'`` or
        ``'max'``).

    Returns
    -------
    list of dict
        One per input, in order: ``{'path', 'model', 'tags': [{'tag',
        'score'}, ...]}`` with the tags sorted by decreasing score, or
        ``{'path', 'model', 'error'}`` for an input that could not be read.
    """
    from chainer_tagger.device import to_device
    from chainer_tagger.pretrained import load_model
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = expand_paths(paths)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, **({'per_clip': True} if per_clip else {}))
    elif per_clip:
        raise ValueError('per_clip=True applies when the model is given by '
                         'name; build a loaded model with '
                         'load_model(name, per_clip=True) instead')
    to_device(model, gpu)
    name = _model_name(model)
    workers = workers or min(4, os.cpu_count() or 1)

    bar = None
    if progress and len(files) > 3:
        from tqdm import tqdm
        bar = tqdm(total=len(files), unit='file', desc='tagging')
    if window == 'full':
        try:
            return _tag_whole_files(model, files, name, hop, aggregate,
                                    batch_size, workers, bar)
        finally:
            if bar is not None:
                bar.close()
    results = []
    batch_paths, batch = [], []

    def flush():
        if not batch:
            return
        scores = tag_melgrams(model, batch, batch_size=len(batch))
        for p, s in zip(batch_paths, scores):
            order = np.argsort(-s, kind='stable')
            results.append({'path': str(p), 'model': name, 'tags': [
                {'tag': model.tags[j], 'score': float(s[j])} for j in order]})
        if bar is not None:
            bar.update(len(batch))
        batch_paths.clear()
        batch.clear()

    try:
        for path, result in _prefetch(read_input, files, workers,
                                      depth=2 * batch_size + workers):
            if isinstance(result, Exception):
                flush()
                results.append({'path': str(path), 'model': name,
                                'error': str(result)})
                if bar is not None:
                    bar.update(1)
                continue
            batch_paths.append(path)
            batch.append(result)
            if len(batch) == batch_size:
                flush()
        flush()
    finally:
        if bar is not None:
            bar.close()
    return results
