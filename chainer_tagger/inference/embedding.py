"""Feature vectors of files (or of a dataset's clips) for any model."""
import numpy as np

from chainer_tagger.audio import clip_windows
from chainer_tagger.errors import InputError
from chainer_tagger.inference.aggregation import aggregate as combine


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
        file.
    decoder_delay : {'remove', 'keep'}
        An MP3's decoder delay removed or kept (see
        :func:`~chainer_tagger.inference.tagging.tag`).

    Returns
    -------
    features : np.ndarray, (rows, dim)
    index : list of dict
        ``{'row', 'path', 'start'}`` per row (``start`` is None for
        aggregated rows); files that cannot be read get ``'error'`` and no
        row.
    """
    rows, index, failures = [], [], []
    for path in paths:
        try:
            starts, feats, batch = [], [], []
            for start, x in clip_windows(path, model.clip_input, window, hop,
                                         decoder_delay):
                starts.append(start)
                batch.append(x)
                if len(batch) == batch_size:
                    feats.append(model.extract(np.stack(batch), batch_size))
                    batch = []
            if batch:
                feats.append(model.extract(np.stack(batch), len(batch)))
        except InputError as e:
            failures.append({'path': str(path), 'error': str(e)})
            continue
        feats = np.concatenate(feats)
        if aggregate:
            feats = combine(feats, aggregate)[None]
            starts = [None]
        for start, f in zip(starts, feats):
            index.append({'row': len(rows), 'path': str(path),
                          'start': start})
            rows.append(f)
    dim = rows[0].shape[-1] if rows else model.feature_size
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32),
            index + failures)


def embed_dataset(model, dataset, batch_size=8):
    """``model.extract`` of every clip of a dataset
    (:class:`~chainer_tagger.datasets.GTZAN`), ``(N, D)``."""
    return model.extract(dataset.inputs(), batch_size)
