"""The taggram as a reader sees it: a column per window, a key that
rounds alike and lies inside the figure (issue 22)."""
import re

import numpy as np
import pytest
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg

from chainer_tagger.audio.inputs import open_input
from chainer_tagger.audio.windows import window_starts
from chainer_tagger.configuration import MELGRAM_INPUT
from chainer_tagger.inference.taggram import (column_caption, taggram_figure,
                                              window_cells)

TAGS = ['tag{}'.format(i) for i in range(50)]


@pytest.fixture(scope='module')
def thirty_seconds(tmp_path_factory):
    path = tmp_path_factory.mktemp('song') / 'thirty.wav'
    rng = np.random.RandomState(0)
    sf.write(path, 0.1 * rng.randn(30 * 22050).astype(np.float32), 22050)
    return path


def _figure(starts, window_seconds, duration, fractions=None):
    scores = np.random.RandomState(1).rand(len(starts), len(TAGS))
    return taggram_figure(starts, scores, TAGS, window_seconds=window_seconds,
                          duration=duration, audio_fractions=fractions)


def _key_texts(fig):
    legend = fig.axes[1].get_legend()
    return [t.get_text() for t in legend.get_texts()]


def test_a_thirty_second_song_with_hop_3_has_six_columns(thirty_seconds):
    """A window's time is its centre: with a 3 s hop over 30 s, windows
    go on while their centre is in the song (0, 3, ..., 15 s: centres 14.6
    to 29.6 s), not only until one reaches the end (that gave 2)."""
    source = open_input(thirty_seconds, MELGRAM_INPUT, 'full', hop=3)
    starts = [w.start for w in source.windows]
    np.testing.assert_allclose(starts, [0, 3, 6, 9, 12, 15])
    fractions = [w.audio_fraction for w in source.windows]
    # The last one is at most half padding.
    assert min(fractions) == pytest.approx((30 - 15) / 29.12, abs=1e-3)
    lo, hi = window_cells(starts, 29.12, 30.0)
    assert (hi - lo > 1.0).all()  # every window a visible column
    fig = _figure(starts, 29.12, 30.0, fractions)
    ax = fig.axes[0]
    meshes = [c for c in ax.collections if type(c).__name__ == 'QuadMesh']
    assert len(meshes) == len(starts) == 6
    assert ax.get_xlim() == (0.0, 30.0)


def test_the_default_hop_and_long_hops_keep_their_windows():
    """Only a hop shorter than half a window gains windows."""
    sr, n = 12000, int(63.817 * 12000)
    assert len(window_starts(n, 29.12)) == 3
    assert [s / sr for s in window_starts(n, 10)] == [0, 10, 20, 30, 40]
    assert window_starts(70 * sr, hop=60) == [0, 60 * sr]


@pytest.mark.parametrize('starts, window, want', [
    ([0, 30.6489], 30.6489, 'columns: 30.65 s windows back to back,'),
    ([0, 3, 6], 29.12, 'columns: 29.12 s windows every 3 s,'),
    ([0, 2.5], 29.12, 'columns: 29.12 s windows every 2.5 s,'),
    ([0], 29.12, 'columns: 29.12 s windows, each'),
])
def test_the_key_rounds_every_number_alike(starts, window, want):
    """'30.65 s windows every 30.6489 s' read as two lengths."""
    text = column_caption(starts, window)
    assert text.startswith(want)
    for number in re.findall(r'\d+\.\d+', text):
        assert len(number.split('.')[1]) <= 2
    fig = _figure(starts, window, starts[-1] + window)
    assert _key_texts(fig)[0] == text


def test_the_key_lies_inside_the_figure_under_the_heat_map():
    """The hatch's key sat at the figure's very edge (7 px in)."""
    w = 675808 / 22050.
    fig = _figure([0, w, 2 * w], w, 65.0, [1, 1, (65 - 2 * w) / w])
    assert len(_key_texts(fig)) == 2  # the padded window's hatch explained
    fig.set_dpi(100)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    key = fig.axes[1].get_legend().get_window_extent(renderer)
    heat = fig.axes[0].get_window_extent(renderer)
    page = fig.bbox
    assert key.x0 >= heat.x0 - 1 and key.x0 > 0.05 * page.width
    assert key.x1 <= page.x1 and key.y0 >= page.y0 and key.y1 < heat.y0
    # Every handle, the hatched patch included, inside the figure.
    for handle in fig.axes[1].get_legend().legend_handles:
        box = handle.get_window_extent(renderer)
        assert box.x0 >= page.x0 and box.x1 <= page.x1
