"""Pictures of embeddings: PCA and t-SNE projections coloured by class.

Axes say what they are (PC1/PC2 with the share of variance each explains;
t-SNE's axes have no units), held-out clips are drawn hollow beside the
filled training clips, and embeddings before and after training share one
figure: with one PCA fitted on both, so that the panels can be compared
point for point; t-SNE has no common projection, so its panels are two
separate maps side by side.
"""
import numpy as np
from tqdm import tqdm

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import MIN_CLIPS_TO_PLOT
from chainer_tagger.errors import UsageError

METHODS = ('pca', 'tsne')
METHOD_NAMES = {'pca': 'PCA', 'tsne': 't-SNE'}


def check_plottable(embeddings):
    """A :class:`UsageError` for fewer clips than a plot needs."""
    if len(embeddings) < MIN_CLIPS_TO_PLOT:
        raise UsageError('{} clips: the PCA and t-SNE plots need at least '
                         '{}'.format(len(embeddings), MIN_CLIPS_TO_PLOT))


def tsne_perplexity(n):
    """t-SNE's perplexity for ``n`` points: 30, or less for few points
    (it must stay below ``n``; about a third of the other points)."""
    return max(1.0, min(30.0, (n - 1) / 3.0))


def project(embeddings, method='pca', seed=0, fit=None):
    """2-D projection with scikit-learn's PCA or t-SNE.

    Returns
    -------
    xy : np.ndarray, (N, 2)
    axis_labels : (str, str)
        ``'PC1 (41 % of variance)'`` for PCA, ``'t-SNE 1'`` for t-SNE.

    ``fit``, for PCA: the points the projection is fitted on (default:
    ``embeddings``), so that several sets share one projection.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    x = np.asarray(embeddings, np.float64)
    check_plottable(x)
    if method == 'pca':
        pca = PCA(n_components=2, random_state=seed).fit(
            x if fit is None else np.asarray(fit, np.float64))
        share = pca.explained_variance_ratio_
        return pca.transform(x), tuple(
            'PC{} ({:.0f} % of variance)'.format(i + 1, 100 * share[i])
            for i in range(2))
    x50 = PCA(n_components=min(50, *x.shape),
              random_state=seed).fit_transform(x)
    xy = TSNE(n_components=2, perplexity=tsne_perplexity(len(x)),
              init='pca', random_state=seed).fit_transform(x50)
    return xy, ('t-SNE 1', 't-SNE 2')


def _scatter(ax, xy, labels, class_names, held_out, axis_labels, title):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    cmap = plt.get_cmap('tab10')
    labels = np.asarray(labels)
    held = np.zeros(len(xy), bool) if held_out is None else \
        np.asarray(held_out, bool)
    for k, name in enumerate(class_names):
        colour = cmap(k % 10)
        for sel, style in (((labels == k) & ~held,
                            dict(color=colour, label=name)),
                           ((labels == k) & held,
                            dict(facecolors='none', edgecolors=colour,
                                 linewidths=1.5))):
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=22, **style)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=10)
    handles, names = ax.get_legend_handles_labels()
    if held.any():
        handles += [Line2D([], [], marker='o', linestyle='', color='0.3'),
                    Line2D([], [], marker='o', linestyle='', color='0.3',
                           markerfacecolor='none')]
        names += ['training clip', 'held-out clip']
    return handles, names


def _figure(panels, class_names, held_out, path, suptitle, sharexy):
    """One PNG with a panel per ``(xy, labels, axis_labels, title)``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(
        6 * len(panels) + 2, 5.5), sharex=sharexy, sharey=sharexy,
        squeeze=False)
    for ax, (xy, labels, axis_labels, title) in zip(axes[0], panels):
        handles, names = _scatter(ax, xy, labels, class_names, held_out,
                                  axis_labels, title)
    fig.legend(handles, names, loc='center right', fontsize=8,
               markerscale=1.3, frameon=False)
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.6 / fig.get_figwidth(), 1))
    with atomic_write(path, 'wb', suffix='.png') as f:
        fig.savefig(f, dpi=100, format='png')
    plt.close(fig)
    return path


def plot_embeddings(embeddings, labels, class_names, prefix, title, seed=0,
                    held_out=None, progress=False):
    """Write ``<prefix>_pca.png`` and ``<prefix>_tsne.png``, coloured by
    class (``held_out``: a mask of the clips to draw hollow).  Returns
    their paths."""
    paths = []
    for method in tqdm(METHODS, desc='projecting', disable=not progress):
        xy, axis_labels = project(embeddings, method, seed)
        paths.append(_figure(
            [(xy, labels, axis_labels, '')], class_names,
            held_out, '{}_{}.png'.format(prefix, method),
            '{}: {}'.format(title, METHOD_NAMES[method]), sharexy=False))
    return paths


def plot_embeddings_before_after(before, after, labels, class_names, prefix,
                                 title, seed=0, held_out=None,
                                 progress=False):
    """Before and after training in one figure per method:
    ``<prefix>_pca.png`` (one PCA fitted on both sets, shared axes) and
    ``<prefix>_tsne.png`` (two t-SNE maps).  Returns their paths."""
    paths = []
    both = np.concatenate([before, after])
    for method in tqdm(METHODS, desc='projecting', disable=not progress):
        panels = []
        for name, emb in (('before training', before),
                          ('after training', after)):
            xy, axis_labels = project(emb, method, seed,
                                      fit=both if method == 'pca' else None)
            panels.append((xy, labels, axis_labels, name))
        common = ' (one projection of both)' if method == 'pca' else \
            ' (separate maps)'
        paths.append(_figure(
            panels, class_names, held_out,
            '{}_{}.png'.format(prefix, method),
            '{}: {}{}'.format(title, METHOD_NAMES[method], common),
            sharexy=method == 'pca'))
    return paths
