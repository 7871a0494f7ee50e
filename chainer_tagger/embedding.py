"""Embeddings of clips, and their PCA and t-SNE pictures."""
import numpy as np

import chainer


def embed_gtzan(model, gtzan, transform, batch_size=8):
    """``model.embed`` of every clip of a GTZAN dataset, ``(N, D)``."""
    out = []
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', False):
        for i in range(0, len(gtzan), batch_size):
            x = np.stack([transform(np.array(gtzan.feature(j)))
                          for j in range(i, min(i + batch_size,
                                                len(gtzan)))])
            h = model.embed(model.xp.asarray(x))
            out.append(chainer.backends.cuda.to_cpu(h.array))
    return np.concatenate(out)


def project(embeddings, method='pca', seed=0):
    """2-D projection with scikit-learn's PCA or t-SNE."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    x = np.asarray(embeddings, np.float64)
    if method == 'pca':
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    perplexity = max(2.0, min(30.0, (len(x) - 1) / 3.0))
    x50 = PCA(n_components=min(50, *x.shape),
              random_state=seed).fit_transform(x)
    return TSNE(n_components=2, perplexity=perplexity, init='pca',
                random_state=seed).fit_transform(x50)


def plot_embeddings(embeddings, labels, class_names, prefix, title, seed=0):
    """Write ``<prefix>_pca.png`` and ``<prefix>_tsne.png``, coloured by
    class."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    paths = []
    for method in ('pca', 'tsne'):
        xy = project(embeddings, method, seed)
        fig, ax = plt.subplots(figsize=(7, 6))
        cmap = plt.get_cmap('tab10')
        for k, name in enumerate(class_names):
            sel = np.asarray(labels) == k
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=18, color=cmap(k % 10),
                           label=name)
        ax.set_title('{} ({})'.format(title, 'PCA' if method == 'pca'
                                      else 't-SNE'))
        ax.legend(fontsize=8, markerscale=1.5, loc='best')
        fig.tight_layout()
        path = '{}_{}.png'.format(prefix, method)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def _waveform_windows(path, length, sr, window, hop):
    """``(start_seconds, samples)`` windows of ``length`` samples at ``sr``:
    the centre one, or every ``hop`` seconds over the whole file."""
    from chainer_tagger.audio import AudioSource
    from chainer_tagger.features import (centre_window, read_window,
                                         window_starts)
    source = AudioSource(path)
    n = source.length_at(sr)
    if window == 'centre':
        starts = [centre_window(n, length)[0]]
    else:
        starts = window_starts(n, hop, length, sr)
    for start in starts:
        yield start / float(sr), read_window(source, start, length,
                                             sr).astype(np.float32)


def _melgram_windows(path, window, hop):
    from chainer_tagger import features
    from chainer_tagger.inputs import read_input
    if window == 'centre' or str(path).lower().endswith('.npy'):
        if window != 'centre':
            raise ValueError('{}: --window full needs audio, not a melgram '
                             '.npy'.format(path))
        yield 0.0, read_input(path)
        return
    for start, mel in features.melgram_windows(path, hop or
                                               features.DURATION):
        yield start, mel


def embed_files(model, paths, window='centre', hop=None, aggregate=None,
                batch_size=8):
    """Feature vectors of audio files (or melgram ``.npy``) for any model.

    CRNN taggers give 32 values, CNN taggers 256 (the layer before their
    classifier), music2vec and SoundNet the flattened ``conv8_2`` output.

    Parameters
    ----------
    window : {'centre', 'full'}
        One window per file (the centre 29.12 s, or 30.6 s for music2vec)
        or windows every ``hop`` seconds over the whole file.
    aggregate : {None, 'mean', 'max'}
        With ``window='full'``: one row per window (``None``) or one per
        file.

    Returns
    -------
    features : np.ndarray, (rows, dim)
    index : list of dict
        ``{'row', 'path', 'start'}`` per row (``start`` is None for
        aggregated rows); files that cannot be read get ``'error'`` and no
        row.
    """
    from chainer_tagger.features import DURATION
    from chainer_tagger.inputs import InputError
    from chainer_tagger.links.model.music2vec import N_SAMPLES
    raw_audio = hasattr(model, 'embed')  # music2vec / SoundNet
    hop = hop or DURATION
    rows, index, failures = [], [], []
    for path in paths:
        try:
            if raw_audio:
                windows = _waveform_windows(path, N_SAMPLES, 22050, window,
                                            hop)
            else:
                windows = _melgram_windows(path, window, hop)
            extract = model.extract
            starts, feats, batch = [], [], []
            for start, x in windows:
                starts.append(start)
                batch.append(x)
                if len(batch) == batch_size:
                    feats.append(extract(np.stack(batch), batch_size))
                    batch = []
            if batch:
                feats.append(extract(np.stack(batch), len(batch)))
        except (InputError, ValueError) as e:
            failures.append({'path': str(path), 'error': str(e)})
            continue
        feats = np.concatenate(feats)
        if aggregate:
            feats = {'mean': feats.mean, 'max': feats.max}[aggregate](
                axis=0, keepdims=True)
            starts = [None]
        for start, f in zip(starts, feats):
            index.append({'row': len(rows), 'path': str(path),
                          'start': start})
            rows.append(f)
    dim = rows[0].shape[-1] if rows else 0
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32),
            index + failures)
