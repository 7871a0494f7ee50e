"""Evaluating a genre classifier: confusion matrix, accuracy and
precision/recall/F1 per class and averaged with weights by class support
(scikit-learn's ``average='weighted'``, the original music2vec's
definition)."""
import json
from pathlib import Path

import numpy as np

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.datasets.gtzan import DEFAULT_TEST_FRACTION, GTZAN
from chainer_tagger.device import to_device
from chainer_tagger.models import ARCHITECTURES, load_model
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.pretrained import registry
from chainer_tagger.training.inputs import clip_pipeline


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


def plot_confusion(matrix, class_names, path, title='Confusion matrix'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay
    fig, ax = plt.subplots(figsize=(8, 7))
    ConfusionMatrixDisplay(np.asarray(matrix),
                           display_labels=list(class_names)).plot(
        ax=ax, cmap='Blues', colorbar=False, xticks_rotation=45)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def predict_classes(net, dataset, indices, batch_size=8):
    """Argmax of ``net.logits`` over clips ``indices`` of a dataset."""
    logits = run_in_batches(net, net.logits, dataset.inputs(indices),
                            batch_size, np.stack)
    return (logits.argmax(axis=1) if len(indices)
            else np.zeros(0, np.int64))


def evaluate(model, data, split='test', out=None, batch_size=8, gpu=None,
             seed=None, test_fraction=None, progress=True, cache_dir=None,
             keras=None):
    """Evaluate a trained model file on a GTZAN-layout folder.

    Parameters
    ----------
    model : path-like
        A trained ``.npz`` (``chainer-tagger train`` writes
        ``best_model.npz``); the registry's ``crnn-gtzan`` works too.
    split : {'test', 'all'}
        ``'test'``: the held-out split the model was trained with (seed and
        fraction from the model file unless given).
    out : path-like, optional
        Folder for ``evaluation.json`` and ``confusion.png``.
    keras : str, optional
        A Keras tagger's BatchNormalization preset, if not its default.
    """
    net = to_device(load_model(model, keras=keras), gpu)
    _, meta = registry.prepare(model, ARCHITECTURES)
    pipeline = clip_pipeline(net)
    cache_dir = Path(cache_dir) if cache_dir else \
        registry.cache_dir() / 'features'
    gtzan = GTZAN(data, pipeline.feature, pipeline.kind, cache_dir,
                  progress=progress, transform=pipeline.transform)
    run = meta.get('training', {})
    if split == 'test':
        _, idx = gtzan.split(
            test_fraction if test_fraction is not None else run.get(
                'test_fraction', DEFAULT_TEST_FRACTION),
            seed if seed is not None else run.get('seed', 0))
    else:
        idx = np.arange(len(gtzan))
    names = list(net.tags)
    y_pred = predict_classes(net, gtzan, idx, batch_size)
    report = classification_report(gtzan.labels[idx], y_pred, names)
    report.update({'model': str(model), 'split': split,
                   'clips': [str(gtzan.paths[j]) for j in idx],
                   'predicted': [names[k] for k in y_pred],
                   'skipped': [[str(p), why] for p, why in gtzan.skipped]})
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / 'evaluation.json',
                          json.dumps(report, indent=1))
        plot_confusion(report['confusion_matrix'], names,
                       out / 'confusion.png',
                       'Confusion matrix ({} clips, accuracy {:.1%})'.format(
                           report['n_clips'], report['accuracy']))
    return report
