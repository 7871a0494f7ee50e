"""Tagging files: inputs -> model inputs -> model -> scores -> results.

Model inputs (Choi's melgram, or the waveform for models of raw audio, as
the model's ``clip_input`` says) are computed on a small thread pool a few
batches ahead of the model
(:func:`~chainer_tagger.inference.prefetch.prefetch`),
so feature extraction overlaps the forward pass and memory stays bounded.

Every result says what makes it less than it seems (``warnings``: decoding
stopped early, a window that is mostly padding, silence; see
:mod:`chainer_tagger.audio.quality`).
"""
import collections
import os
import warnings as pywarnings

import numpy as np
from tqdm import tqdm

from chainer_tagger.audio import expand_paths, open_input
from chainer_tagger.audio.inputs import guarded
from chainer_tagger.audio.quality import (file_name_warning, loudest,
                                          no_music_warning)
from chainer_tagger.device import to_device
from chainer_tagger.errors import ChainerTaggerWarning, InputError, UsageError
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


def result(path, model, scores=None, error=None, warnings=(), **extra):
    """One file's result, the only place one is made.

    ``{'path', 'model', 'warnings': [str, ...], 'tags': [{'tag', 'score'},
    ...]}`` with the tags by decreasing score (``extra`` keys before
    ``warnings``), or ``{'path', 'model', 'warnings', 'error'}``.
    Scores that are not finite make an error: no NaN ever reaches a
    report.  A path that is not valid UTF-8 gets a warning saying how it
    is written (see :func:`~chainer_tagger.audio.quality.file_name_warning`),
    once.
    """
    out = {'path': str(path), 'model': model_name(model)}
    notes = list(warnings)
    name_note = file_name_warning(path)
    if name_note and name_note not in notes:
        notes.insert(0, name_note)
    if error is None and not np.all(np.isfinite(scores)):
        error = '{}: the model gave NaN or infinite scores'.format(path)
    if error is not None:
        out['warnings'] = notes
        out['error'] = str(error)
        return out
    out.update(extra)
    out['warnings'] = notes
    order = np.argsort(-scores, kind='stable')
    out['tags'] = [{'tag': model.tags[j], 'score': float(scores[j])}
                   for j in order]
    return out


def _check_classifier(model):
    if not model.tags:
        raise UsageError(
            '{} has no class output to tag with (it gives features: use '
            '`chainer-tagger embed`)'.format(model_name(model)))


#: Scores of every window of one file: window ``starts`` (seconds),
#: ``scores`` ``(windows, n_tags)``, each window's share of real audio
#: (``audio_fractions``), the file's ``duration`` (seconds), its ``hop``
#: (seconds) and ``warnings``.
WindowScores = collections.namedtuple(
    'WindowScores', 'starts scores audio_fractions duration hop warnings')


def tag_windows(model, path, hop=None, batch_size=16, workers=None,
                bar=None, decoder_delay='remove'):
    """Scores of every window of one file, ``hop`` seconds apart (default:
    the model's window length, 29.12 s for the melgram taggers);
    ``decoder_delay`` as for :func:`tag`.

    Returns
    -------
    WindowScores

    Windows are read a few batches ahead on a thread pool and only their
    scores are kept, so memory stays bounded for long files.  ``bar``, a
    tqdm bar, advances by one per window (its total grows by this file's
    windows).  The warnings include a name that is not valid UTF-8 and
    audio that carries no music (see
    :func:`~chainer_tagger.audio.quality.no_music_warning`: judged on the
    loudest window).
    """
    _check_classifier(model)
    hop = hop or model.clip_input.seconds
    source = open_input(path, model.clip_input, 'full', hop, decoder_delay)
    warn_batch_dependence(model, batch_size, len(source.windows))
    workers = workers or default_workers()
    if bar is not None:
        bar.total += len(source.windows)
        bar.refresh()
    scores, batch, levels = [], [], []
    for _, x in prefetch(lambda w: w.read(), source.windows, workers,
                         depth=batch_size + workers):
        if isinstance(x, Exception):
            raise x
        x, level = x
        levels.append(level)
        batch.append(x)
        if len(batch) == batch_size:
            scores.append(model.predict(np.stack(batch), len(batch)))
            if bar is not None:
                bar.update(len(batch))
            batch = []
    if batch:
        scores.append(model.predict(np.stack(batch), len(batch)))
        if bar is not None:
            bar.update(len(batch))
    notes = [w for w in [file_name_warning(path)] + source.warnings +
             [no_music_warning(loudest(levels))] if w]
    return WindowScores(
        np.asarray([w.start for w in source.windows]),
        np.concatenate(scores),
        np.asarray([w.audio_fraction for w in source.windows]),
        source.duration, float(hop), notes)


def _tag_whole_files(model, files, hop, how, batch_size, workers, bar,
                     decoder_delay):
    for path in files:
        try:
            w = tag_windows(model, path, hop, batch_size, workers, bar,
                            decoder_delay)
        except InputError as e:
            yield [result(path, model, error=e)]
        else:
            yield [result(
                path, model, combine(w.scores, how, w.audio_fractions),
                warnings=w.warnings, windows=len(w.starts), hop=w.hop,
                aggregate=how)]


def _read_centre(path, clip_input, decoder_delay, also=None):
    """The centre window of one file: ``(model input, warnings, also's
    value)``; every step inside the per-file guard.

    Without ``also`` only the window is decoded (and an MP3's end, for its
    length); when the window fails to decode, the file is decoded whole,
    which keeps what decodes before damage and says so."""
    opened = open_input(path, clip_input, decoder_delay=decoder_delay,
                        whole=also is not None)
    try:
        x, level = opened.windows[0].read()
    except InputError:
        if opened.source is None or not opened.source.length_from_end:
            raise
        opened = open_input(path, clip_input, decoder_delay=decoder_delay)
        x, level = opened.windows[0].read()
    notes = opened.warnings + [
        w for w in [guarded(path, no_music_warning, level)] if w]
    return x, notes, None if also is None else also(opened, x)


def _tag_centre_windows(model, files, batch_size, workers, bar,
                        decoder_delay, also=None):
    batch_paths, batch, batch_notes, batch_values = [], [], [], []

    def flush():
        scores = model.predict(np.stack(batch), batch_size=len(batch))
        done = [result(p, model, s, warnings=n)
                for p, s, n in zip(batch_paths, scores, batch_notes)]
        values = list(batch_values)
        if bar is not None:
            bar.update(len(batch))
        for kept in (batch_paths, batch, batch_notes, batch_values):
            kept.clear()
        return done if also is None else (done, values)

    def read(path):
        return _read_centre(path, model.clip_input, decoder_delay, also)

    for path, x in prefetch(read, files, workers,
                            depth=2 * batch_size + workers):
        if isinstance(x, Exception):
            if batch:
                yield flush()
            if bar is not None:
                bar.update(1)
            failed = [result(path, model, error=x)]
            yield failed if also is None else (failed, [x])
            continue
        batch_paths.append(path)
        batch.append(x[0])
        batch_notes.append(x[1])
        batch_values.append(x[2])
        if len(batch) == batch_size:
            yield flush()
    if batch:
        yield flush()


def warn_batch_dependence(model, batch_size, clips):
    """Say at run time that a BN-mode-2 model's scores depend on the batch:
    when it runs more than one clip in a batch."""
    if model.batch_dependent and batch_size > 1 and clips > 1:
        pywarnings.warn(
            '{} normalises over each batch (Keras BN mode 2): a clip\'s '
            'scores depend on the other clips of its batch of {}; use '
            '--per-clip (per_clip=True) for scores of each clip on its '
            'own'.format(model_name(model), batch_size),
            ChainerTaggerWarning, stacklevel=3)


def tag(paths, model='crnn-msd', batch_size=16, gpu=None, progress=False,
        workers=None, per_clip=False, window='centre', hop=None,
        aggregate=None, keras=None, precision='float32',
        decoder_delay='remove'):
    """Tag audio files, folders of them, or ``.npy`` melgrams.

    Parameters
    ----------
    paths : str, path-like or list of them
    model : str or model
        A registry name, a model file, or a loaded model of the zoo.
    batch_size : int
        Clips per forward pass.  Models with BN mode 2 ('cnn0-msd',
        'rnn0-msd') normalise over each batch, so their scores depend on it
        (a :class:`~chainer_tagger.errors.ChainerTaggerWarning` says so).
    gpu : int, optional
        CUDA device id (needs CuPy).
    progress : bool
        Show a progress bar (tqdm, on stderr): files when there are more
        than a few, windows with ``window='full'``.
    workers : int, optional
        Threads computing model inputs (default: number of CPUs, at most 4).
    per_clip : bool
        For BN-mode-2 models, normalise each clip on its own.
    window : {'centre', 'full'}
        ``'centre'``: the centre window (29.12 s for the melgram taggers),
        as the original; ``'full'``: slide windows over the whole file
        every ``hop`` seconds (default: the window length) and aggregate
        their scores with ``aggregate`` (``'mean'``, the default, or
        ``'max'``; see
        :func:`~chainer_tagger.inference.aggregation.aggregate`).
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
    check_options(batch_size, window, hop, aggregate)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = expand_paths(paths)
    model = prepare_model(model, per_clip, gpu, keras, precision)
    bar = None
    try:
        if window == 'full':
            if progress:
                bar = tqdm(total=0, unit='window', desc='tagging windows')
        else:
            warn_batch_dependence(model, batch_size, len(files))
            if progress and len(files) > 3:
                bar = tqdm(total=len(files), unit='file', desc='tagging')
        return [r for done in iter_results(
                    model, files, batch_size, workers, window, hop,
                    aggregate, decoder_delay, bar=bar)
                for r in done]
    finally:
        if bar is not None:
            bar.close()


def check_options(batch_size, window='centre', hop=None, aggregate=None):
    """A :class:`UsageError` for a batch size below 1, or ``hop`` and
    ``aggregate`` without ``window='full'``."""
    if window != 'full' and (hop is not None or aggregate is not None):
        raise UsageError('hop and aggregate apply to window=\'full\' '
                         '(--window full) only')
    if batch_size is None or batch_size < 1:
        raise UsageError('batch size must be a positive integer, not '
                         '{}'.format(batch_size))


def prepare_model(model, per_clip=False, gpu=None, keras=None,
                  precision='float32'):
    """The model to tag with, on its device: ``model`` loaded when it is
    a registry name or file (with ``per_clip``, ``keras`` and
    ``precision``), or as given; a model without a classifier is a
    :class:`UsageError`."""
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
    return to_device(model, gpu)


def iter_results(model, files, batch_size=16, workers=None, window='centre',
                 hop=None, aggregate=None, decoder_delay='remove', bar=None,
                 also=None):
    """Results of ``files`` (see :func:`result`), in their order, a list at
    a time: the results of each batch of centre windows, or of each file
    with ``window='full'``, as soon as it is done.

    So a caller can keep each batch as it finishes (the library store
    commits it) instead of holding every result until the end.  ``bar``,
    a tqdm bar, advances by file (centre) or by window (full).

    ``also`` (centre window only) is a second use of each file read:
    ``also(opened, x)`` of the opened file (a
    :class:`~chainer_tagger.audio.inputs.FileInput`, its decoded
    ``source`` included) and the model input of its centre window,
    computed on the reading threads, so that what else is wanted of a
    file (the library's embeddings) needs no second decode.  Each item is
    then ``(results, values)``: ``also``'s value for each result, or the
    :class:`~chainer_tagger.errors.InputError` of a file that could not be
    read.  ``also`` should return its own failures as values: one it
    raises fails the file's result too.
    """
    workers = workers or default_workers()
    if window == 'full':
        if also is not None:
            raise UsageError("also applies to window='centre' only")
        return _tag_whole_files(model, files, hop, aggregate or 'mean',
                                batch_size, workers, bar, decoder_delay)
    return _tag_centre_windows(model, files, batch_size, workers, bar,
                               decoder_delay, also)
