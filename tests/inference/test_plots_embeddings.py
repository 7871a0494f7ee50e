"""Embedding plots a reader takes in at a glance (issue 22): each panel of
before/after projected on its own, classes told apart by marker shape as
well as colour, a titled key right beside the panels."""
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from sklearn.decomposition import PCA

from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.inference import embedding_plot as ep

LABELS = np.repeat(np.arange(10), 7)
HELD = np.arange(70) % 7 == 0


def _trained_body(seed=0):
    """Embeddings before and after training a body: the classes spread
    apart, and the whole cloud moved far (the shift that one PCA of both
    sets gave 98 % of its variance to)."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(10, 64)
    before = centres[LABELS] * 0.5 + rng.randn(70, 64)
    after = centres[LABELS] * 2.0 + 0.5 * rng.randn(70, 64) + 20.0
    return before, after


def _points(ax):
    return np.concatenate([c.get_offsets() for c in ax.collections])


def _percent(label):
    return int(re.search(r'\((\d+) % of variance\)', label).group(1))


def test_before_and_after_panels_each_have_their_own_pca():
    before, after = _trained_body()
    panels = ep.before_after_panels(before, after, 'pca')
    for (xy, axis_labels, name), emb in zip(panels, (before, after)):
        own = PCA(2).fit(emb)
        # Centred on its own points: the shift between sets is not drawn.
        np.testing.assert_allclose(xy.mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(np.abs(xy), np.abs(own.transform(emb)),
                                   rtol=1e-6, atol=1e-9)
        assert [_percent(a) for a in axis_labels] == [
            round(100 * r) for r in own.explained_variance_ratio_]
    # One PCA of both gave its first axis to the shift, not to the genres.
    assert _percent(panels[0][1][0]) < 50 and _percent(panels[1][1][0]) < 50
    assert PCA(2).fit(np.concatenate([before, after])) \
        .explained_variance_ratio_[0] > 0.9


def test_the_figure_draws_each_panel_on_its_own_axes():
    before, after = _trained_body()
    panels = [(xy, LABELS, labels, name) for xy, labels, name
              in ep.before_after_panels(before, after, 'pca')]
    fig = ep.embedding_figure(panels, GTZAN_GENRES, HELD, 'x', 'genre')
    left, right = fig.axes[:2]
    for ax, (xy, _, axis_labels, _) in zip((left, right), panels):
        assert ax.get_xlabel() == axis_labels[0]
        np.testing.assert_allclose(np.sort(_points(ax), axis=0),
                                   np.sort(xy, axis=0))
    # Not shared: each panel's limits fit its own points.
    assert left.get_shared_x_axes().get_siblings(left) == [left]


def test_classes_differ_in_marker_and_colour_blind_safe_colour():
    styles = [ep.class_style(k) for k in range(len(GTZAN_GENRES))]
    assert len({marker for _, marker in styles}) == len(GTZAN_GENRES)
    okabe_ito = {'#000000', '#e69f00', '#56b4e9', '#009e73', '#f0e442',
                 '#0072b2', '#d55e00', '#cc79a7'}
    assert {to_hex(colour) for colour, _ in styles} <= okabe_ito
    _, after = _trained_body()
    xy, axis_labels = ep.project(after, 'pca')
    fig = ep.embedding_figure([(xy, LABELS, axis_labels, '')],
                              GTZAN_GENRES, HELD, 'x', 'genre')
    legend = fig.legends[0]
    handles = legend.legend_handles
    assert legend.get_title().get_text() == 'genre'
    assert [t.get_text() for t in legend.get_texts()] == list(GTZAN_GENRES)
    # The key's symbols: ten different paths (marker shapes).
    paths = {tuple(np.round(h.get_paths()[0].vertices, 3).ravel())
             for h in handles}
    assert len(paths) == len(GTZAN_GENRES)
    assert fig.legends[1].get_title().get_text() == 'clips'


def test_the_key_sits_beside_the_panels_inside_the_figure():
    """It floated at the far right, 0.65 in from the panels."""
    _, after = _trained_body()
    xy, axis_labels = ep.project(after, 'pca')
    fig = ep.embedding_figure([(xy, LABELS, axis_labels, '')],
                              GTZAN_GENRES, HELD, 'x', 'genre')
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    panel = fig.axes[0].get_window_extent(renderer)
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1
        assert page.y0 <= box.y0 and box.y1 <= page.y1
        assert 0 <= box.x0 - panel.x1 < 0.35 * fig.dpi
