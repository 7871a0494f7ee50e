"""Feature vectors of files (or of a dataset's clips) for any model."""
import numpy as np
from tqdm import tqdm

from chainer_tagger.audio import open_input
from chainer_tagger.audio.quality import (file_name_warning, loudest,
                                          no_music_warning)
from chainer_tagger.errors import InputError
from chainer_tagger.inference.aggregation import aggregate as combine


def _embed_file(model, path, window, hop, batch_size, decoder_delay):
    """``(starts, features, audio fractions, warnings)`` of one file."""
    source = open_input(path, model.clip_input, window, hop, decoder_delay)
    feats, batch, levels = [], [], []
    for w in source.windows:
        x, level = w.read()
        levels.append(level)
        batch.append(x)
        if len(batch) == batch_size:
            feats.append(model.extract(np.stack(batch), batch_size))
            batch = []
    if batch:
        feats.append(model.extract(np.stack(batch), len(batch)))
    feats = np.concatenate(feats)
    if not np.all(np.isfinite(feats)):
        raise InputError('{}: the model gave NaN or infinite features'.format(
            path))
    silent = no_music_warning(loudest(levels))
    return ([w.start for w in source.windows], feats,
            [w.audio_fraction for w in source.windows],
            source.warnings + [n for n in [silent] if n])


def embed_files(model, paths, window='centre', hop=None, aggregate=None,
                batch_size=8, decoder_delay='remove'):
    """Feature vectors of audio files (or melgram ``.npy``) for any model.

    CRNN taggers give 32 values, CNN taggers 256 (the layer before their
    classifier), music2vec and SoundNet the flattened ``conv8_2`` output:
    whatever the model's ``extract`` gives, on the inputs its
    ``clip_input`` asks for.

    Parameters
    ----------
    window : {'centre', 'full'}
        One window per file (the centre 29.12 s, or 30.6 s for music2vec)
        or windows every ``hop`` seconds over the whole file.
    aggregate : {None, 'mean', 'max'}
        With ``window='full'``: one row per window (``None``) or one per
        file (see :func:`~chainer_tagger.inference.aggregation.aggregate`:
        windows count by their share of real audio).
    decoder_delay : {'remove', 'keep'}
        An MP3's decoder delay removed or kept (see
        :func:`~chainer_tagger.inference.tagging.tag`).

    Returns
    -------
    features : np.ndarray, (rows, dim)
    index : list of dict
        ``{'row', 'path', 'start', 'warnings'}`` per row (``start`` is None
        for aggregated rows); files that cannot be read get ``'error'``
        and no row.
    """
    rows, index, failures = [], [], []
    for path in paths:
        name_note = [n for n in [file_name_warning(path)] if n]
        try:
            starts, feats, fractions, notes = _embed_file(
                model, path, window, hop, batch_size, decoder_delay)
        except InputError as e:
            failures.append({'path': str(path), 'warnings': name_note,
                             'error': str(e)})
            continue
        if aggregate:
            feats = combine(feats, aggregate, fractions)[None]
            starts = [None]
        for start, f in zip(starts, feats):
            index.append({'row': len(rows), 'path': str(path),
                          'start': start, 'warnings': name_note + notes})
            rows.append(f)
    dim = rows[0].shape[-1] if rows else model.feature_size
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32),
            index + failures)


def embed_dataset(model, dataset, batch_size=8, progress=False):
    """``model.extract`` of the centre window of every clip of a dataset
    (:class:`~chainer_tagger.datasets.GTZAN` of clips decoded at the
    model's rate), ``(N, D)``, with a progress bar (tqdm, on stderr) when
    ``progress``."""
    inputs = dataset.centre_inputs(model.clip_input)
    out = []
    with tqdm(total=len(inputs), unit='clip', desc='embedding',
              disable=not progress) as bar:
        for i in range(0, len(inputs), batch_size):
            batch = inputs[i:i + batch_size]
            out.append(model.extract(batch, batch_size))
            bar.update(len(batch))
    return np.concatenate(out) if out else np.zeros(
        (0, model.feature_size), np.float32)
