"""Tags over time: per-window scores of a whole file, as JSON or a heat
map (musicnn's two steps: the taggram first, then what is made of it)."""
import json

import numpy as np

from chainer_tagger.inference.tagging import model_name, tag_windows


def taggram(model, path, hop=None, batch_size=16, decoder_delay='remove'):
    """Per-window scores of one file as a JSON-able dict: ``{'path',
    'model', 'window_seconds', 'windows': [{'start', 'scores': {tag:
    score}}]}``; ``decoder_delay`` as for
    :func:`~chainer_tagger.inference.tagging.tag`."""
    starts, scores = tag_windows(model, path, hop, batch_size,
                                 decoder_delay=decoder_delay)
    return {'path': str(path), 'model': model_name(model),
            'window_seconds': model.clip_input.seconds, 'windows': [
                {'start': float(t), 'scores': dict(zip(
                    model.tags, map(float, s)))}
                for t, s in zip(starts, scores)]}


def taggram_json(data):
    return json.dumps(data, indent=1) + '\n'


def plot_taggram_of(data, path, k=10, title=None):
    """Draw a :func:`taggram` dict with :func:`plot_taggram`."""
    tags = list(data['windows'][0]['scores']) if data['windows'] else []
    scores = [[w['scores'][t] for t in tags] for w in data['windows']]
    return plot_taggram([w['start'] for w in data['windows']], scores, tags,
                        path, k=k, title=title,
                        window_seconds=data['window_seconds'])


def plot_taggram(starts, scores, tags, path, k=10, title=None,
                 window_seconds=29.12):
    """Draw the ``k`` tags with the best mean score against time.

    Parameters
    ----------
    starts : array, seconds
    scores : array, shape (windows, n_tags)
    tags : sequence of str
    path : where to write the PNG
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    scores = np.asarray(scores)
    best = np.argsort(-scores.mean(axis=0), kind='stable')[:k]
    image = scores[:, best].T
    starts = np.asarray(starts, dtype=float)
    hop = starts[1] - starts[0] if len(starts) > 1 else window_seconds
    edges = np.append(starts, starts[-1] + hop)  # a cell per window start
    fig, ax = plt.subplots(figsize=(max(6, min(16, 0.4 * len(starts) + 4)),
                                    0.35 * len(best) + 1.5))
    im = ax.pcolormesh(edges, np.arange(len(best) + 1) - 0.5, image,
                       cmap='magma', vmin=0,
                       vmax=max(1e-6, float(image.max())))
    ax.set_ylim(len(best) - 0.5, -0.5)
    ax.set_yticks(range(len(best)))
    ax.set_yticklabels([tags[j] for j in best])
    ax.set_xlabel('window start (s); each window lasts {:.2f} s'.format(
        window_seconds))
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label='score')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
