"""Evaluating a genre classifier: one number for training and ``evaluate``.

A clip's class probabilities are the softmax of the model's scores
averaged over the clip's evaluation windows
(:func:`~chainer_tagger.training.inputs.evaluation_inputs`).  The held-out
loss is the mean over clips of the cross-entropy of those probabilities,
the accuracy the fraction of clips whose most probable class is right:
every clip counts once, whatever the batches (Chainer's ``Evaluator``
averages the means of batches, which weighs the clips of a short last
batch more).  Training validates with :func:`held_out_scores` and
``evaluate`` reports the same numbers on the same split, with the
confusion matrix and precision/recall/F1 per class and averaged with
weights by class support (scikit-learn's ``average='weighted'``, the
original music2vec's definition).
"""
import json
import os
import re
from pathlib import Path

import numpy as np

import chainer
import chainer.functions as F

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.configuration import (DEFAULT_EVALUATION_WINDOWS,
                                          GTZAN_GENRES)
from chainer_tagger.datasets.gtzan import GTZAN, find_clips
from chainer_tagger.device import to_device
from chainer_tagger.errors import UsageError
from chainer_tagger.models import ARCHITECTURES, load_model
from chainer_tagger.pretrained import registry
from chainer_tagger.training.inputs import EvaluationWindows, decoded_clips


def clip_probabilities(link, method, clips, batch_size=8):
    """Class probabilities of clips, averaged over their windows.

    Parameters
    ----------
    link : chainer.Link
        The model (inputs are sent to its device).
    method : callable
        Scores before the softmax of a batch of windows (``link.logits``
        on model inputs, ``link.head`` on cached body outputs).
    clips : sequence
        Per clip, an array ``(windows, ...)``; read one at a time.
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    np.ndarray, ``(len(clips), n_classes)``
    """
    sums, counts = [], []
    pending, owners = [], []

    def flush():
        x = link.device.send(np.concatenate(pending))
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            p = chainer.backends.cuda.to_cpu(F.softmax(method(x)).array)
        row = 0
        for owner, n in owners:
            sums[owner] += p[row:row + n].sum(axis=0, dtype=np.float64)
            row += n
        pending.clear()
        owners.clear()

    for i in range(len(clips)):
        windows = np.asarray(clips[i])
        sums.append(0.0)
        counts.append(len(windows))
        for start in range(0, len(windows), batch_size):
            part = windows[start:start + batch_size]
            if sum(n for _, n in owners) + len(part) > batch_size:
                flush()
            pending.append(part)
            owners.append((i, len(part)))
    if pending:
        flush()
    if not sums:
        return np.zeros((0, 0))
    return np.stack(sums) / np.asarray(counts, np.float64)[:, None]


def held_out_scores(probabilities, labels):
    """``{'loss', 'accuracy'}`` of clip probabilities: every clip counts
    once (see the module docstring)."""
    labels = np.asarray(labels)
    if not len(labels):
        return {'loss': float('nan'), 'accuracy': float('nan')}
    true = probabilities[np.arange(len(labels)), labels]
    return {'loss': float(-np.mean(np.log(np.maximum(true, 1e-12)))),
            'accuracy': float(np.mean(probabilities.argmax(axis=1) ==
                                      labels))}


def classification_report(y_true, y_pred, class_names):
    """Metrics as a JSON-able dict."""
    from sklearn.metrics import (accuracy_score, confusion_matrix,
                                 precision_recall_fscore_support)
    labels = np.arange(len(class_names))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    wp, wr, wf, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average='weighted', zero_division=0)
    return {
        'n_clips': int(len(y_true)),
        'accuracy': float(accuracy_score(y_true, y_pred)),
        'weighted': {'precision': float(wp), 'recall': float(wr),
                     'f1': float(wf)},
        'per_class': {name: {'precision': float(p[k]),
                             'recall': float(r[k]), 'f1': float(f[k]),
                             'support': int(s[k])}
                      for k, name in enumerate(class_names)},
        'labels': list(class_names),
        'confusion_matrix': confusion_matrix(
            y_true, y_pred, labels=labels).tolist(),
    }


def model_label(model):
    """A model as a title names it: a registry name as it is, a model file
    by its folder and name (``runs/m2v/best_model.npz`` ->
    ``m2v/best_model.npz``: every run writes a ``best_model.npz``)."""
    parts = Path(str(model)).parts
    return '/'.join(parts[-2:]) if len(parts) > 1 else str(model)


def confusion_title(model, arch, data, split, n_clips, accuracy, seed=None,
                    test_fraction=None):
    """Two lines that say what a confusion matrix is of: the model (and
    its architecture), the data folder and the split, then the clips and
    the accuracy.  A matrix without them could be any model's."""
    name = model_label(model)
    what = name if arch in (None, name) else '{} ({})'.format(name, arch)
    clips = '{} held-out clips (split seed {}, test fraction {:g})'.format(
        n_clips, seed, test_fraction) if split == 'held-out' else \
        'all {} clips'.format(n_clips)
    return 'Confusion matrix: {} on {}\n{}, accuracy {:.1%}'.format(
        what, Path(str(data)).name or str(data), clips, accuracy)


def plot_confusion(matrix, class_names, path, title='Confusion matrix'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay
    fig, ax = plt.subplots(figsize=(8, 7))
    ConfusionMatrixDisplay(np.asarray(matrix),
                           display_labels=list(class_names)).plot(
        ax=ax, cmap='Blues', colorbar=False, xticks_rotation=45)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def genre_labels(model, folder_genres):
    """The model's class index of each GTZAN genre, checking that the
    model classifies exactly into genres and knows every genre of the
    folder.

    Raises :class:`~chainer_tagger.errors.UsageError` otherwise (a tagger
    of 50 Last.fm tags, a model of other classes).
    """
    name = model.model_name or type(model).__name__
    tags = list(model.tags or ())
    if not tags:
        raise UsageError('{} has no class output: evaluate needs a genre '
                         'classifier'.format(name))
    foreign = [t for t in tags if t not in GTZAN_GENRES]
    missing = [g for g in folder_genres if g not in tags]
    if foreign or missing:
        raise UsageError(
            '{} classifies into {} classes ({}{}), not the genres of this '
            'folder{}; evaluate a genre classifier (chainer-tagger train '
            'makes one)'.format(
                name, len(tags), ', '.join(tags[:5]),
                ', ...' if len(tags) > 5 else '',
                ' (missing: {})'.format(', '.join(missing))
                if missing else ''))
    return np.array([tags.index(g) if g in tags else -1
                     for g in GTZAN_GENRES])


def same_folder(a, b):
    """Whether two paths name the same folder (``genres/`` or its
    parent)."""
    def root(p):
        p = Path(p).resolve()
        return p.parent if p.name == 'genres' else p
    return b is not None and root(a) == root(b)


def data_root(data):
    """The folder that names a data set: ``data``, or the parent of a
    ``genres`` folder."""
    p = Path(data).resolve()
    return p.parent if p.name == 'genres' else p


def evaluation_paths(out, identity):
    """``(json, png)`` of an evaluation in folder ``out``:
    ``evaluation-<data set>-<split>.json`` and ``confusion-…png``, the data
    set named by its folder (``identity``: ``{'model', 'data', 'split'}``
    of the evaluation).

    An existing file of the same evaluation (same model, folder and split)
    is replaced; one of another evaluation (another model, or another
    folder of the same name) is kept, and this one gets the next free
    name (``-2``, ``-3``, ...).
    """
    name = re.sub(r'[^A-Za-z0-9._-]+', '_', Path(identity['data']).name)
    stem = '{}-{}'.format(name.strip('._') or 'data', identity['split'])
    n = 1
    while True:
        suffix = '' if n == 1 else '-{}'.format(n)
        json_path = out / 'evaluation-{}{}.json'.format(stem, suffix)
        png_path = out / 'confusion-{}{}.png'.format(stem, suffix)
        if not json_path.exists() and not png_path.exists():
            return json_path, png_path
        try:
            old = json.loads(json_path.read_text())
            same = all(old.get(k) == v for k, v in identity.items())
        except (OSError, ValueError, AttributeError):
            same = False
        if same:
            return json_path, png_path
        n += 1


def evaluate(model, data, split=None, out=None, batch_size=8, gpu=None,
             seed=None, test_fraction=None, windows=None, progress=False,
             cache_dir=None, keras=None):
    """Evaluate a genre classifier on a GTZAN-layout folder.

    Parameters
    ----------
    model : path-like
        A trained ``.npz`` (``chainer-tagger train`` writes
        ``best_model.npz``) or a registry genre classifier
        (``crnn-gtzan``).
    split : {None, 'held-out', 'all'}
        ``'held-out'``: the validation clips of the training run (seed and
        fraction from the model file unless given); ``'all'``: every clip.
        ``None``: the held-out clips when ``data`` is the folder the model
        was trained on, every clip otherwise.
    windows : int, optional
        Evaluation windows per clip (default: as in training, else
        :data:`~chainer_tagger.configuration.DEFAULT_EVALUATION_WINDOWS`).
    out : path-like, optional
        Folder for ``evaluation-<data set>-<split>.json`` and
        ``confusion-<data set>-<split>.png`` (:func:`evaluation_paths`:
        evaluations of several data sets live side by side).
    keras : str, optional
        A Keras tagger's BatchNormalization preset, if not its default.
    progress : bool
        Progress bars on stderr (default: none; the CLI asks for them when
        stderr is a terminal).

    Returns
    -------
    dict
        :func:`classification_report` plus ``loss``, ``split``, the
        model and data set, the clips and their predictions, and (with
        ``out``) the ``files`` written.
    """
    net = load_model(model, keras=keras)
    _, meta = registry.prepare(model, ARCHITECTURES)
    run = meta.get('training', {})
    folder_genres = sorted({GTZAN_GENRES[k] for _, k in find_clips(data)})
    labels_of = genre_labels(net, folder_genres)
    if split is None:
        split = 'held-out' if same_folder(data, run.get('data')) else 'all'
    if split == 'held-out' and not run:
        raise UsageError('{} records no training split; use --split '
                         'all'.format(model))
    net = to_device(net, gpu)
    windows = windows or run.get('evaluation_windows',
                                 DEFAULT_EVALUATION_WINDOWS)
    pipeline = decoded_clips(net.clip_input)
    cache_dir = Path(cache_dir) if cache_dir else \
        registry.cache_dir() / 'features'
    gtzan = GTZAN(data, pipeline.feature, pipeline.kind, cache_dir,
                  progress=progress)
    if split == 'held-out':
        test_fraction = test_fraction if test_fraction is not None else \
            run['test_fraction']
        seed = seed if seed is not None else run['seed']
        _, idx = gtzan.split(test_fraction, seed)
    else:
        idx = np.arange(len(gtzan))
    names = list(net.tags)
    labels = labels_of[gtzan.labels[idx]]
    probabilities = clip_probabilities(
        net, net.logits, EvaluationWindows(gtzan, idx, net.clip_input,
                                           windows, frozen=False),
        batch_size)
    predicted = probabilities.argmax(axis=1) if len(idx) else \
        np.zeros(0, np.int64)
    report = classification_report(labels, predicted, names)
    identity = {'model': os.path.abspath(model) if os.path.isfile(model)
                else str(model), 'data': str(data_root(data)),
                'split': split}
    report.update(identity)
    report.update({'loss': held_out_scores(probabilities, labels)['loss'],
                   'windows_per_clip': windows,
                   'clips': [str(gtzan.paths[j]) for j in idx],
                   'predicted': [names[k] for k in predicted],
                   'skipped': [[str(p), why] for p, why in gtzan.skipped]})
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        json_path, png_path = evaluation_paths(out, identity)
        report['files'] = [str(json_path), str(png_path)]
        plot_confusion(report['confusion_matrix'], names, png_path,
                       confusion_title(model, net.arch, data, split,
                                       report['n_clips'], report['accuracy'],
                                       seed, test_fraction))
        write_text_atomic(json_path, json.dumps(report, indent=1))
    return report
