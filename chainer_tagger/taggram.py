"""Tags over time: a heat map of per-window scores."""
import numpy as np


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
