"""Training and evaluation plots a reader takes in at a glance (issue 22):
whole epochs on the curves' x axis, a confusion matrix that names its
model, data and split."""
from unittest import mock

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from chainer_tagger.training import evaluation
from chainer_tagger.training.reporting import curve_figure, plot_curves


def _log(epochs):
    return [{'epoch': e, 'iteration': 3 * e, 'main/loss': 2.0 / e,
             'main/accuracy': 0.1 * e, 'validation/main/loss': 2.1 / e,
             'validation/main/accuracy': 0.1 * e}
            for e in range(1, epochs + 1)]


def _visible_xticks(fig):
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


@pytest.mark.parametrize('epochs', [1, 2, 3, 40])
@pytest.mark.parametrize('what', ['loss', 'accuracy'])
def test_curves_have_whole_epoch_ticks(epochs, what):
    """A one-epoch run's axis read 0.945, 0.960, ... 1.050."""
    ticks = _visible_xticks(curve_figure(_log(epochs), what, 'run'))
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert 1 <= min(ticks) and max(ticks) <= epochs
    if epochs <= 3:
        assert ticks == list(range(1, epochs + 1))


def test_plot_curves_writes_both_files(tmp_path):
    paths = plot_curves(_log(1), str(tmp_path), 'run')
    assert [p.split('/')[-1] for p in paths] == ['loss.png', 'accuracy.png']
    for p in paths:
        assert open(p, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_confusion_title_names_model_data_and_split():
    title = evaluation.confusion_title(
        '/runs/m2v/best_model.npz', 'music2vec', '/data/gtzan-mini/',
        'held-out', 14, 0.5, seed=3, test_fraction=0.2)
    assert title.splitlines() == [
        'Confusion matrix: m2v/best_model.npz (music2vec) on gtzan-mini',
        '14 held-out clips (split seed 3, test fraction 0.2), '
        'accuracy 50.0%']
    assert evaluation.confusion_title(
        'crnn-gtzan', 'crnn', 'tiny', 'all', 8, 0.25).splitlines() == [
        'Confusion matrix: crnn-gtzan (crnn) on tiny',
        'all 8 clips, accuracy 25.0%']


@pytest.mark.shared
def test_evaluate_titles_its_confusion_matrix(tiny, tmp_path):
    """The matrix said only 'Confusion matrix (8 clips, accuracy …)'."""
    seen = []
    real = evaluation.plot_confusion

    def spy(matrix, names, path, title):
        seen.append(title)
        return real(matrix, names, path, title)
    with mock.patch.object(evaluation, 'plot_confusion', side_effect=spy):
        report = evaluation.evaluate('crnn-gtzan', str(tiny),
                                     out=str(tmp_path))
    [title] = seen
    assert 'crnn-gtzan' in title and tiny.name in title
    assert 'all {} clips'.format(report['n_clips']) in title
    assert '{:.1%}'.format(report['accuracy']) in title
    assert np.asarray(report['confusion_matrix']).sum() == report['n_clips']
    [png] = tmp_path.glob('confusion-*.png')
    assert png.read_bytes()[:4] == b'\x89PNG'
