"""Fitting a linear probe: logistic regression on a frozen model's
features, the baseline every trained model should beat.

The features of each clip's evaluation windows are computed once and
cached; scikit-learn's ``StandardScaler`` and multinomial
``LogisticRegression`` are fitted on the training clips' windows (each
clip weighing as much as any other, whatever its number of windows) and
stored as the standardization and linear layer of a
:class:`~chainer_tagger.models.LinearProbe`, whose model file ``tag``,
``evaluate`` and ``export`` read like any other (no pickle).
"""
import json
import time
import warnings
from pathlib import Path

import numpy as np

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.configuration import GTZAN_GENRES, PROBE_C
from chainer_tagger.datasets.gtzan import GTZAN
from chainer_tagger.errors import ChainerTaggerWarning, UsageError
from chainer_tagger.models import ARCHITECTURES, LinearProbe
from chainer_tagger.pretrained import registry, save_model_npz
from chainer_tagger.training.evaluation import (clip_probabilities,
                                                held_out_scores)
from chainer_tagger.training.inputs import (EvaluationWindows,
                                            FrozenBodyOutputs)
from chainer_tagger.training.run_folder import prepare_run_folder


def feature_cache(config):
    """Where a run caches what it computes per clip."""
    return Path(config.cache_dir) if config.cache_dir else \
        registry.cache_dir() / 'features'


def load_dataset(config, pipeline, comm=None):
    """The GTZAN folder of a run, each clip cached as ``pipeline`` makes
    it (rank 0 first when distributed)."""
    if comm is not None and comm.rank != 0:
        comm.mpi_comm.Barrier()  # rank 0 decodes and caches first
    gtzan = GTZAN(config.data, pipeline.feature, pipeline.kind,
                  feature_cache(config), progress=config.progress,
                  measure=True)
    if comm is not None and comm.rank == 0:
        comm.mpi_comm.Barrier()
    return gtzan


def warn_about_clips(gtzan, clip_input):
    """One warning line per clip of ``gtzan`` that ``tag`` would warn about
    with a model of ``clip_input`` (cut short, mostly padding or the clip
    repeated, silent): it is trained on, but not without a word."""
    for name, notes in gtzan.quality_warnings(clip_input):
        warnings.warn('training clip {}: {}'.format(name, '; '.join(notes)),
                      ChainerTaggerWarning, stacklevel=2)


def build_probe(features, input_fill='loop', tags=GTZAN_GENRES):
    """An unfitted :class:`~chainer_tagger.models.LinearProbe` on the
    features of ``features`` (a registry name or model file), with its
    weights."""
    path, meta = registry.prepare(features, ARCHITECTURES)
    if meta['arch'] == 'probe':
        raise UsageError('a probe takes its features from a model, not '
                         'from another probe')
    probe = LinearProbe(tags=tags, feature_arch=meta['arch'],
                        feature_settings=meta['settings'],
                        features_from=str(features), input_fill=input_fill)
    registry.load_weights(path, probe.feature_model)
    return probe


def fit_linear(features, labels, weights, n_classes, c=PROBE_C):
    """Standardization and multinomial logistic regression (scikit-learn)
    as arrays: ``(mean, scale, W (n_classes, D), b)``.

    Classes absent from ``labels`` get a bias of -30 (never predicted);
    with two classes present, the binary model becomes the equivalent
    two-class softmax.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    scaler = StandardScaler().fit(features)
    x = scaler.transform(features)
    present = np.unique(labels)
    weight = np.zeros((n_classes, x.shape[1]))
    bias = np.full(n_classes, -30.0)
    if len(present) == 1:
        bias[present[0]] = 0.0
    else:
        lr = LogisticRegression(C=c, max_iter=2000)
        lr.fit(x, labels, sample_weight=weights)
        coef, intercept = lr.coef_, lr.intercept_
        if len(present) == 2:  # p(second) = sigmoid(w x + b)
            coef = np.concatenate([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        weight[lr.classes_] = coef
        bias[lr.classes_] = intercept
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return scaler.mean_, scale, weight, bias


def fit_probe(config, device=None):
    """Fit a probe on a GTZAN folder (``config``: a
    :class:`~chainer_tagger.training.TrainingConfig` with ``model='probe'``
    and ``features``); writes ``best_model.npz``, ``run.json`` and ``log``
    to ``config.out`` and returns the model's path.

    ``device`` (a Chainer device, e.g. ``get_device(config.gpu)``) runs
    the feature model; the logistic regression is scikit-learn's, on the
    CPU.
    """
    t0 = time.time()
    prepare_run_folder(config, {'C': PROBE_C})
    probe = build_probe(config.features, config.input_fill)
    if device is not None:
        probe.to_device(device)
    out = Path(config.out)
    outputs = FrozenBodyOutputs(probe, probe.clip_input, config.windows,
                                'probe-' + probe.feature_model.arch)
    gtzan = load_dataset(config, outputs.pipeline)
    warn_about_clips(gtzan, probe.clip_input)
    train_idx, test_idx = gtzan.split(config.test_fraction, config.seed)
    rows = [np.asarray(gtzan.feature(j)) for j in train_idx]
    features = np.concatenate(rows).reshape(sum(map(len, rows)), -1)
    labels = np.concatenate([np.full(len(r), gtzan.labels[j])
                             for r, j in zip(rows, train_idx)])
    weights = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in rows])
    probe.set_classifier(*fit_linear(features, labels, weights,
                                     len(probe.tags)))
    train_scores = held_out_scores(clip_probabilities(
        probe, probe.head, EvaluationWindows(gtzan, train_idx,
                                             probe.clip_input,
                                             config.windows, True),
        config.batch_size), gtzan.labels[train_idx])
    scores = held_out_scores(clip_probabilities(
        probe, probe.head, EvaluationWindows(gtzan, test_idx,
                                             probe.clip_input,
                                             config.windows, True),
        config.batch_size), gtzan.labels[test_idx])
    meta = {'arch': probe.arch, 'settings': probe.settings,
            'base': str(config.features), 'name': None, 'epoch': 1,
            'held_out': scores, 'training': {
                'data': str(Path(config.data).resolve()),
                'seed': config.seed, 'test_fraction': config.test_fraction,
                'input_fill': config.input_fill,
                'evaluation_windows': config.windows, 'C': PROBE_C,
                'n_train': len(train_idx), 'n_test': len(test_idx)}}
    save_model_npz(out / 'best_model.npz', probe, meta)
    write_text_atomic(out / 'run.json', json.dumps(meta, indent=1))
    log = [{'epoch': 1, 'main/loss': train_scores['loss'],
            'main/accuracy': train_scores['accuracy'],
            'validation/main/loss': scores['loss'],
            'validation/main/accuracy': scores['accuracy'],
            'elapsed_time': time.time() - t0}]
    write_text_atomic(out / 'log', json.dumps(log, indent=4))
    return out / 'best_model.npz'
