"""What a training run measures and keeps, as Chainer Trainer extensions:
the held-out scores, the best model, the random state (for exact
resumption), the learning curves and the progress bar."""
import math
import sys

import numpy as np
from tqdm import tqdm

import chainer
from chainer.training import extension

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.training.evaluation import (clip_probabilities,
                                                held_out_scores)

#: Keys the held-out scores are reported under (as Chainer's Evaluator
#: names them, so logs read the same).
LOSS_KEY = 'validation/main/loss'
ACCURACY_KEY = 'validation/main/accuracy'


class HeldOutScores(extension.Extension):
    """Report the held-out loss and accuracy over all validation clips,
    each clip counted once
    (:func:`~chainer_tagger.training.evaluation.held_out_scores`), as
    ``evaluate`` computes them.

    Parameters
    ----------
    net : chainer.Link
    method : callable
        ``net.head`` (cached body outputs) or ``net.logits``.
    clips : sequence
        Per validation clip, its windows (see
        :class:`~chainer_tagger.training.inputs.EvaluationWindows`).
    labels : array
        Their classes.
    """

    trigger = (1, 'epoch')
    priority = extension.PRIORITY_WRITER
    name = 'validation'

    def __init__(self, net, method, clips, labels, batch_size):
        self.net, self.method, self.clips = net, method, clips
        self.labels, self.batch_size = np.asarray(labels), batch_size

    def scores(self):
        """``{'loss', 'accuracy'}`` of the model as it is now."""
        return held_out_scores(clip_probabilities(
            self.net, self.method, self.clips, self.batch_size), self.labels)

    def __call__(self, trainer):
        scores = self.scores()
        chainer.report({LOSS_KEY: scores['loss'],
                        ACCURACY_KEY: scores['accuracy']})


class SaveBest(extension.Extension):
    """Save the model as ``path`` whenever the held-out accuracy is the
    best so far (ties: the lower held-out loss wins).  Its record is part
    of the trainer's snapshot, so a resumed run keeps the right model."""

    trigger = (1, 'epoch')
    priority = extension.PRIORITY_READER

    def __init__(self, path, net, meta):
        self.path, self.net, self.meta = path, net, meta
        self.best_accuracy, self.best_loss = -np.inf, np.inf
        self.best_epoch = 0

    def __call__(self, trainer):
        accuracy = float(trainer.observation.get(ACCURACY_KEY, np.nan))
        loss = float(trainer.observation.get(LOSS_KEY, np.nan))
        if not (accuracy > self.best_accuracy or (
                accuracy == self.best_accuracy and loss < self.best_loss)):
            return
        self.best_accuracy, self.best_loss = accuracy, loss
        self.best_epoch = trainer.updater.epoch
        save_model_npz(self.path, self.net, dict(
            self.meta, epoch=self.best_epoch, held_out={
                'accuracy': accuracy, 'loss': loss}))

    def serialize(self, serializer):
        self.best_accuracy = float(serializer('best_accuracy',
                                              self.best_accuracy))
        self.best_loss = float(serializer('best_loss', self.best_loss))
        self.best_epoch = int(serializer('best_epoch', self.best_epoch))


class RandomState(extension.Extension):
    """Keep NumPy's global random state in the trainer's snapshots.

    Dropout draws from it; restoring it on ``--resume`` makes a resumed run
    draw the same masks as an uninterrupted one.  Does nothing when
    called.
    """

    trigger = (1, 'epoch')
    priority = extension.PRIORITY_READER

    def __call__(self, trainer):
        pass

    def serialize(self, serializer):
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        keys = serializer('keys', keys)
        pos = serializer('pos', np.int64(pos))
        has_gauss = serializer('has_gauss', np.int64(has_gauss))
        gauss = serializer('gauss', np.float64(gauss))
        if isinstance(serializer, chainer.serializer.Deserializer):
            np.random.set_state((name, np.asarray(keys, np.uint32), int(pos),
                                 int(has_gauss), float(gauss)))


class LearningCurves(extension.Extension):
    """Draw ``loss.png`` and ``accuracy.png`` (training and validation
    against the epoch) from the log after every epoch."""

    trigger = (1, 'epoch')
    priority = extension.PRIORITY_READER - 1

    def __init__(self, out, title):
        self.out, self.title = out, title

    def __call__(self, trainer):
        log = trainer.get_extension('LogReport').log
        plot_curves(log, self.out, self.title)


class Progress(extension.Extension):
    """A progress bar of the run's iterations on ``out`` (standard error:
    standard output is for results alone), with tqdm like every other bar
    of the project.

    Chainer's own ``ProgressBar`` takes an ``out`` but, in Chainer 7.8.1,
    draws on standard output regardless.  A resumed run's bar starts at
    the iteration it resumes from.
    """

    trigger = (1, 'iteration')
    priority = extension.PRIORITY_WRITER

    def __init__(self, out=None):
        self.out = out
        self.bar = None

    def __call__(self, trainer):
        updater = trainer.updater
        if self.bar is None:
            total = trainer.stop_trigger.get_training_length()
            if total[1] == 'epoch':
                main = updater.get_iterator('main')
                total = math.ceil(total[0] * len(main.dataset) /
                                  main.batch_size)
            else:
                total = int(total[0])
            self.bar = tqdm(total=total, initial=updater.iteration - 1,
                            unit='it', desc='training',
                            file=self.out or sys.stderr, leave=True)
        self.bar.set_postfix_str('epoch {}'.format(updater.epoch),
                                 refresh=False)
        self.bar.update(updater.iteration - self.bar.n)

    def finalize(self):
        if self.bar is not None:
            self.bar.close()


class PlainText:
    """A text stream without the terminal control sequence Chainer's
    ``PrintReport`` writes to clear its progress bar (``ESC [J``), for logs
    that are not a terminal and for lines written above a :class:`Progress`
    bar (``above_bar``: through ``tqdm.write``, which moves the bar below
    them)."""

    def __init__(self, stream, above_bar=False):
        self.stream = stream
        self.above_bar = above_bar
        self.pending = ''

    def write(self, text):
        text = text.replace('\033[J', '')
        if not self.above_bar:
            return self.stream.write(text)
        # PrintReport writes a line cell by cell: the bar is redrawn after
        # each write, so only whole lines go out.
        lines = (self.pending + text).split('\n')
        self.pending = lines.pop()
        for line in lines:
            tqdm.write(line, file=self.stream)
        return len(text)

    def flush(self):
        self.stream.flush()


def plot_curves(log, out, title):
    """``loss.png`` and ``accuracy.png`` in folder ``out`` from a Chainer
    log (a list of per-epoch dicts)."""
    paths = []
    for what in ('loss', 'accuracy'):
        path = '{}/{}.png'.format(out, what)
        with atomic_write(path, 'wb', suffix='.png') as f:
            curve_figure(log, what, title).savefig(f, dpi=100, format='png')
        paths.append(path)
    return paths


def curve_figure(log, what, title):
    """The matplotlib ``Figure`` (outside pyplot's state) of one learning
    curve, ``what`` ``'loss'`` or ``'accuracy'``: training and validation
    against the epoch, the best model's epoch marked.

    Epochs are whole: the x axis has integer ticks only, even for a run of
    one epoch (whose half-unit view used to get 0.945 ... 1.050)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    held_out = [e for e in log if ACCURACY_KEY in e]
    best = max(held_out, key=lambda e: (e[ACCURACY_KEY], -e[LOSS_KEY]),
               default=None)
    fig = Figure(figsize=(6.4, 4.2), layout='constrained')
    ax = fig.subplots()
    for key, name, style in (('main/' + what, 'train', 'o-'),
                             ('validation/main/' + what, 'validation',
                              's-')):
        points = [(e['epoch'], e[key]) for e in log if key in e]
        if points:
            x, y = zip(*points)
            ax.plot(x, y, style, markersize=3, label=name)
    if best is not None:
        ax.axvline(best['epoch'], color='0.5', linestyle=':',
                   label='best_model.npz')
    epochs = [e['epoch'] for e in log] or [1]
    ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    # min_n_ticks=1: with fewer than two whole epochs in view MaxNLocator
    # gives up integer ticks unless told one is enough.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel('epoch')
    ax.set_ylabel({'loss': 'cross-entropy loss'}.get(what, what))
    if what == 'accuracy':
        ax.set_ylim(-0.02, 1.02)
    ax.set_title('{}: {}'.format(title, what))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
