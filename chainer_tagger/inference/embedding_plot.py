"""Pictures of embeddings: PCA and t-SNE projections coloured by class."""
import numpy as np


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
