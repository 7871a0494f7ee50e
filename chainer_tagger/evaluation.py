"""Evaluating a genre classifier: confusion matrix, accuracy and
precision/recall/F1 per class and averaged with weights by class support
(scikit-learn's ``average='weighted'``, the original music2vec's
definition)."""
import json
from pathlib import Path

import numpy as np


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


def evaluate(model, data, split='test', out=None, batch_size=8, gpu=None,
             seed=None, test_fraction=None, progress=True, cache_dir=None):
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
    """
    import chainer
    from chainer_tagger.datasets.gtzan import DEFAULT_TEST_FRACTION, GTZAN
    from chainer_tagger.device import to_device
    from chainer_tagger.model_file import read_model_meta
    from chainer_tagger.pretrained import (cache_dir as default_cache,
                                           load_model, prepare)
    from chainer_tagger.training import clip_input
    path, _ = prepare(model)
    meta = read_model_meta(path)
    net = load_model(model)
    to_device(net, gpu)
    kind, feature, transform = clip_input(meta['arch'])
    cache_dir = Path(cache_dir) if cache_dir else default_cache() / 'features'
    gtzan = GTZAN(data, feature, kind, cache_dir, progress=progress)
    run = meta.get('training', {})
    if split == 'test':
        _, idx = gtzan.split(
            test_fraction if test_fraction is not None else run.get(
                'test_fraction', DEFAULT_TEST_FRACTION),
            seed if seed is not None else run.get('seed', 0))
    else:
        idx = np.arange(len(gtzan))
    names = list(net.tags)
    preds = []
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', False):
        for i in range(0, len(idx), batch_size):
            x = np.stack([transform(np.array(gtzan.feature(j)))
                          for j in idx[i:i + batch_size]])
            y = net.logits(net.xp.asarray(x)).array
            preds.append(chainer.backends.cuda.to_cpu(y).argmax(axis=1))
    y_pred = np.concatenate(preds) if preds else np.zeros(0, int)
    report = classification_report(gtzan.labels[idx], y_pred, names)
    report.update({'model': str(model), 'split': split,
                   'clips': [str(gtzan.paths[j]) for j in idx],
                   'predicted': [names[k] for k in y_pred],
                   'skipped': [[str(p), why] for p, why in gtzan.skipped]})
    if out is not None:
        from chainer_tagger.report import write_atomic
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / 'evaluation.json', json.dumps(report, indent=1))
        plot_confusion(report['confusion_matrix'], names,
                       out / 'confusion.png',
                       'Confusion matrix ({} clips, accuracy {:.1%})'.format(
                           report['n_clips'], report['accuracy']))
    return report
