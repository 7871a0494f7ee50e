"""Pictures of embeddings: PCA and t-SNE projections coloured by class.

Axes say what they are (PC1/PC2 with the share of variance each explains;
t-SNE's axes have no units), classes differ in marker shape as well as in
colour (a colour-blind-safe palette), held-out clips are drawn hollow
beside the filled training clips, and embeddings before and after
training share one figure, each panel projected on its own axes (one PCA
fitted on both put all its variance on the shift between them).
"""
import numpy as np
from tqdm import tqdm

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import (CLASS_COLOURS, CLASS_MARKERS,
                                          MIN_CLIPS_TO_PLOT)
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


def project(embeddings, method='pca', seed=0):
    """2-D projection with scikit-learn's PCA or t-SNE.

    Returns
    -------
    xy : np.ndarray, (N, 2)
    axis_labels : (str, str)
        ``'PC1 (41 % of variance)'`` for PCA, ``'t-SNE 1'`` for t-SNE.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    x = np.asarray(embeddings, np.float64)
    check_plottable(x)
    if method == 'pca':
        pca = PCA(n_components=2, random_state=seed).fit(x)
        share = pca.explained_variance_ratio_
        return pca.transform(x), tuple(
            'PC{} ({:.0f} % of variance)'.format(i + 1, 100 * share[i])
            for i in range(2))
    x50 = PCA(n_components=min(50, *x.shape),
              random_state=seed).fit_transform(x)
    xy = TSNE(n_components=2, perplexity=tsne_perplexity(len(x)),
              init='pca', random_state=seed).fit_transform(x50)
    return xy, ('t-SNE 1', 't-SNE 2')


def class_style(k):
    """Colour and marker of class ``k``: the marker alone tells up to
    ten classes apart, the colour (colour-blind safe) helps the eye."""
    return (CLASS_COLOURS[k % len(CLASS_COLOURS)],
            CLASS_MARKERS[k % len(CLASS_MARKERS)])


def _scatter(ax, xy, labels, class_names, held_out, axis_labels, title):
    labels = np.asarray(labels)
    held = np.zeros(len(xy), bool) if held_out is None else \
        np.asarray(held_out, bool)
    for k, name in enumerate(class_names):
        colour, marker = class_style(k)
        # A thin dark edge keeps the light colours (yellow) visible.
        for sel, style in (((labels == k) & ~held,
                            dict(color=colour, edgecolors='0.25',
                                 linewidths=0.4, label=name)),
                           ((labels == k) & held,
                            dict(facecolors='none', edgecolors=colour,
                                 linewidths=1.5))):
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=26, marker=marker,
                           **style)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=10)
    return held.any()


def embedding_figure(panels, class_names, held_out, suptitle,
                     legend_title='class'):
    """A matplotlib ``Figure`` (outside pyplot's state) with a panel per
    ``(xy, labels, axis_labels, title)``; the classes' key (titled
    ``legend_title``) and, when some clips are held out, the key of the
    filled and hollow points, right beside the panels."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    fig = Figure(figsize=(5.5 * len(panels) + 1.8, 5.2),
                 layout='constrained')
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xy, labels, axis_labels, title) in zip(axes, panels):
        any_held = _scatter(ax, xy, labels, class_names, held_out,
                            axis_labels, title)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc='outside right upper', fontsize=8,
               markerscale=1.3, frameon=False, title=legend_title,
               title_fontsize=9, alignment='left')
    if any_held:
        fig.legend([Line2D([], [], marker='o', linestyle='', color='0.3'),
                    Line2D([], [], marker='o', linestyle='', color='0.3',
                           markerfacecolor='none')],
                   ['training clip', 'held-out clip'],
                   loc='outside right lower', fontsize=8, frameon=False,
                   title='clips', title_fontsize=9, alignment='left')
    fig.suptitle(suptitle, fontsize=11)
    return fig


def _write(fig, path):
    with atomic_write(path, 'wb', suffix='.png') as f:
        fig.savefig(f, dpi=100, format='png')
    return path


def plot_embeddings(embeddings, labels, class_names, prefix, title, seed=0,
                    held_out=None, progress=False, legend_title='class'):
    """Write ``<prefix>_pca.png`` and ``<prefix>_tsne.png``, coloured and
    shaped by class (``held_out``: a mask of the clips to draw hollow;
    ``legend_title``: what the classes are, such as ``'genre'``).  Returns
    their paths."""
    paths = []
    for method in tqdm(METHODS, desc='projecting', disable=not progress):
        xy, axis_labels = project(embeddings, method, seed)
        paths.append(_write(embedding_figure(
            [(xy, labels, axis_labels, '')], class_names, held_out,
            '{}: {}'.format(title, METHOD_NAMES[method]), legend_title),
            '{}_{}.png'.format(prefix, method)))
    return paths


def before_after_panels(before, after, method, seed=0):
    """The two panels of :func:`plot_embeddings_before_after`, each
    projected on its own: a body that trained moves its outputs as a
    whole, and one PCA of both sets spent nearly all its variance on that
    shift between the panels instead of the classes within them."""
    return [project(emb, method, seed) + (name,)
            for name, emb in (('before training', before),
                              ('after training', after))]


def plot_embeddings_before_after(before, after, labels, class_names, prefix,
                                 title, seed=0, held_out=None,
                                 progress=False, legend_title='class'):
    """Before and after training in one figure per method:
    ``<prefix>_pca.png`` and ``<prefix>_tsne.png``, each panel projected
    on its own (see :func:`before_after_panels`).  Returns their paths."""
    paths = []
    for method in tqdm(METHODS, desc='projecting', disable=not progress):
        panels = [(xy, labels, axis_labels, name) for xy, axis_labels, name
                  in before_after_panels(before, after, method, seed)]
        paths.append(_write(embedding_figure(
            panels, class_names, held_out,
            '{}: {} (each panel projected on its own axes)'.format(
                title, METHOD_NAMES[method]), legend_title),
            '{}_{}.png'.format(prefix, method)))
    return paths
