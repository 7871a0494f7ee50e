"""Tagging files: inputs -> model inputs -> model -> scores -> results.

Model inputs (Choi's melgram, or the waveform for models of raw audio, as
the model's ``clip_input`` says) are computed on a small thread pool a few
batches ahead of the model
(:func:`~chainer_tagger.inference.prefetch.prefetch`), so feature
extraction overlaps the forward pass and memory stays bounded.
"""
import os

import numpy as np

from chainer_tagger.audio import expand_paths, input_windows, read_input
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError, UsageError
from chainer_tagger.inference.aggregation import aggregate as combine
from chainer_tagger.inference.prefetch import prefetch
from chainer_tagger.models import load_model


def default_workers():
    """Threads computing model inputs: the CPUs, at most 4."""
    return min(4, os.cpu_count() or 1)


def model_name(model):
    """How results name a model: its registry name or file, else its
    class."""
    return model.model_name or type(model).__name__


def result(path, model, scores=None, error=None, **extra):
    """One file's result: ``{'path', 'model', 'tags': [{'tag', 'score'},
    ...]}`` with the tags by decreasing score (``extra`` keys in between),
    or ``{'path', 'model', 'error'}``."""
    out = {'path': str(path), 'model': model_name(model)}
    if error is not None:
        out['error'] = str(error)
        return out
    out.update(extra)
    order = np.argsort(-scores, kind='stable')
    out['tags'] = [{'tag': model.tags[j], 'score': float(scores[j])}
                   for j in order]
    return out


def _check_classifier(model):
    if not model.tags:
        raise UsageError(
            '{} has no class output to tag with (it gives features: use '
            '`chainer-tagger embed`)'.format(model_name(model)))


def tag_windows(model, path, hop=None, batch_size=16, workers=None,
                decoder_delay='remove'):
    """Scores of every window of one file, ``hop`` seconds apart (default:
    the model's window length, 29.12 s for the melgram taggers);
    ``decoder_delay`` as for :func:`tag`.

    Returns
    -------
    starts : np.ndarray
        Window starts in seconds.
    scores : np.ndarray, shape (windows, n_tags)

    Windows are read a few batches ahead on a thread pool and only their
    scores are kept, so memory stays bounded for long files.
    """
    _check_classifier(model)
    windows = input_windows(path, model.clip_input, 'full', hop,
                            decoder_delay)
    workers = workers or default_workers()
    scores, batch = [], []
    for _, x in prefetch(lambda w: w[1](), windows, workers,
                         depth=batch_size + workers):
        if isinstance(x, Exception):
            raise x
        batch.append(x)
        if len(batch) == batch_size:
            scores.append(model.predict(np.stack(batch), len(batch)))
            batch = []
    if batch:
        scores.append(model.predict(np.stack(batch), len(batch)))
    return np.asarray([s for s, _ in windows]), np.concatenate(scores)


def _tag_whole_files(model, files, hop, how, batch_size, workers, bar,
                     decoder_delay):
    results = []
    for path in files:
        try:
            starts, scores = tag_windows(model, path, hop, batch_size,
                                         workers, decoder_delay)
        except InputError as e:
            results.append(result(path, model, error=e))
        else:
            results.append(result(path, model, combine(scores, how),
                                  windows=len(starts), aggregate=how))
        if bar is not None:
            bar.update(1)
    return results


def _tag_centre_windows(model, files, batch_size, workers, bar,
                        decoder_delay):
    results = []
    batch_paths, batch = [], []

    def flush():
        if not batch:
            return
        scores = model.predict(np.stack(batch), batch_size=len(batch))
        results.extend(result(p, model, s)
                       for p, s in zip(batch_paths, scores))
        if bar is not None:
            bar.update(len(batch))
        batch_paths.clear()
        batch.clear()

    def read(path):
        return read_input(path, model.clip_input, decoder_delay)

    for path, x in prefetch(read, files, workers,
                            depth=2 * batch_size + workers):
        if isinstance(x, Exception):
            flush()
            results.append(result(path, model, error=x))
            if bar is not None:
                bar.update(1)
            continue
        batch_paths.append(path)
        batch.append(x)
        if len(batch) == batch_size:
            flush()
    flush()
    return results


def tag(paths, model='crnn-msd', batch_size=16, gpu=None, progress=False,
        workers=None, per_clip=False, window='centre', hop=None,
        aggregate='mean', keras=None, precision='float32',
        decoder_delay='remove'):
    """Tag audio files, folders of them, or ``.npy`` melgrams.

    Parameters
    ----------
    paths : str, path-like or list of them
    model : str or model
        A registry name, a model file, or a loaded model of the zoo.
    batch_size : int
        Clips per forward pass.  Models with BN mode 2 ('cnn0-msd',
        'rnn0-msd') normalise over each batch, so their scores depend on it.
    gpu : int, optional
        CUDA device id (needs CuPy).
    progress : bool
        Show a progress bar (tqdm) when there are more than a few files.
    workers : int, optional
        Threads computing model inputs (default: number of CPUs, at most 4).
    per_clip : bool
        For BN-mode-2 models, normalise each clip on its own.
    window : {'centre', 'full'}
        ``'centre'``: the centre window (29.12 s for the melgram taggers),
        as the original; ``'full'``: slide windows over the whole file
        every ``hop`` seconds (default: the window length) and aggregate
        their scores with ``aggregate`` (``'mean'`` or ``'max'``).
    keras : str, optional
        Run a Keras tagger given by name with another Keras release's
        BatchNormalization than its default (a preset such as
        ``'1.0.6-tensorflow'``; see ``chainer-tagger models``).
    precision : {'float32', 'float64'}
        float64 for reference runs (model given by name).
    decoder_delay : {'remove', 'keep'}
        An MP3's decoder delay removed (default: as the shipped melgrams
        were made) or kept (as 2016 decoders without gapless information
        did; some published tables were computed that way).

    Returns
    -------
    list of dict
        One per input, in order (see :func:`result`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = expand_paths(paths)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, keras=keras, precision=precision,
                           **({'per_clip': True} if per_clip else {}))
    else:
        asked = [o for o, v in (('per_clip', per_clip), ('keras', keras),
                                ('precision', precision != 'float32'))
                 if v]
        if asked:
            raise UsageError(
                '{} apply when the model is given by name; build a loaded '
                'model with load_model(name, {}=...) instead'.format(
                    ', '.join(asked), asked[0]))
    _check_classifier(model)
    to_device(model, gpu)
    workers = workers or default_workers()
    bar = None
    if progress and len(files) > 3:
        from tqdm import tqdm
        bar = tqdm(total=len(files), unit='file', desc='tagging')
    try:
        if window == 'full':
            return _tag_whole_files(model, files, hop, aggregate, batch_size,
                                    workers, bar, decoder_delay)
        return _tag_centre_windows(model, files, batch_size, workers, bar,
                                   decoder_delay)
    finally:
        if bar is not None:
            bar.close()
