"""What a training run feeds its model: the windows of a clip, and with a
recipe's training gains the same windows played louder and quieter
(computed here from the clip without the package's windows)."""
import numpy as np
import soundfile as sf

import chainer

from chainer_tagger.configuration import ClipInput
from chainer_tagger.training.inputs import (EvaluationWindows,
                                            FrozenBodyOutputs,
                                            TrainingWindows)

SR = 8000
CLIP = ClipInput('waveform', SR, 2000)
COUNT = 3
GAINS = [6, -12]


class FirstSamples(chainer.Link):
    """A 'body' that keeps the first 5 samples of each window."""

    def body(self, x):
        return chainer.Variable(x[:, :5])

    def body_links(self):
        return [self]


def _clip(tmp_path):
    y = np.random.RandomState(0).uniform(-0.5, 0.5, 9000).astype(np.float32)
    path = tmp_path / 'clip.wav'
    sf.write(str(path), y, SR, subtype='FLOAT')
    return path, y


def test_frozen_outputs_hold_each_window_as_it_is_then_at_each_gain(
        tmp_path):
    path, y = _clip(tmp_path)
    plain = FrozenBodyOutputs(FirstSamples(), CLIP, COUNT, 'm')
    gained = FrozenBodyOutputs(FirstSamples(), CLIP, COUNT, 'm', GAINS)
    assert plain.kind != gained.kind  # another cache entry
    as_is = plain.feature(str(path))
    # Three windows of the clip as it is, spread over it.
    starts = [int(np.flatnonzero(y == row[0])[0]) for row in as_is]
    assert starts[0] == 0 and starts[1] > 0 and starts[2] > starts[1]
    np.testing.assert_array_equal(as_is, [y[s:s + 5] for s in starts])
    rows = gained.feature(str(path))
    assert rows.shape == (COUNT * 3, 5)
    np.testing.assert_array_equal(rows[:COUNT], as_is)
    for k, gain in enumerate(GAINS, 1):
        np.testing.assert_allclose(rows[k * COUNT:(k + 1) * COUNT],
                                   as_is * 10 ** (gain / 20), rtol=1e-6)


class Outputs:
    """A dataset of cached outputs (as ``datasets.GTZAN`` gives them)."""

    def __init__(self, rows):
        self.rows, self.labels = rows, np.zeros(len(rows), np.int64)

    def feature(self, j):
        return self.rows[j]


def test_training_draws_every_level_and_evaluation_only_the_clip_as_it_is():
    rows = np.arange(2 * COUNT * 3, dtype=np.float32).reshape(2, COUNT * 3,
                                                              1)
    data = Outputs(rows)
    windows = TrainingWindows(data, [0, 1], CLIP, seed=0, frozen=True)

    class Epoch:
        epoch = 0
    windows.iterator = Epoch()
    drawn = set()
    for Epoch.epoch in range(200):
        drawn.add(int(windows.get_example(1)[0][0]))
    assert drawn == set(range(COUNT * 3, 2 * COUNT * 3))
    evaluation = EvaluationWindows(data, [0, 1], CLIP, COUNT, frozen=True)
    np.testing.assert_array_equal(evaluation[1], rows[1, :COUNT])


def test_a_body_in_training_sees_its_window_at_a_drawn_level(tmp_path):
    path, y = _clip(tmp_path)

    class Clips:
        labels = np.zeros(1, np.int64)

        def feature(self, j):
            return y
    windows = TrainingWindows(Clips(), [0], CLIP, seed=0, frozen=False,
                              gains_db=GAINS)

    class Epoch:
        epoch = 0
    windows.iterator = Epoch()
    levels = set()
    for Epoch.epoch in range(100):
        x, _ = windows.get_example(0)
        # The window is a slice of the clip, scaled by the drawn gain.
        ratio = np.linalg.norm(x) / np.linalg.norm(_scaled_slice(y, x))
        levels.add(round(20 * np.log10(ratio), 3))
    assert levels == {0, 6, -12}


def _scaled_slice(y, x):
    """The slice of ``y`` that ``x`` is a multiple of."""
    for s in range(len(y) - len(x) + 1):
        piece = y[s:s + len(x)]
        r = x[0] / piece[0]
        if np.allclose(piece * r, x, rtol=1e-4, atol=1e-7):
            return piece
    raise AssertionError('not a scaled slice of the clip')
