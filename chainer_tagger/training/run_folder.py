"""A training run's output folder belongs to one run.

When a run starts it writes its settings and a fingerprint of its data
(:data:`RUN_SETTINGS`); a later ``train`` into the same folder is checked
against them before any work:

* without ``--resume``, a folder that holds another run's results
  (``best_model.npz``, ``model.npz``, snapshots) is refused: training
  would overwrite them;
* with ``--resume``, a folder whose run had other settings or other data
  is refused, naming what differs (continuing its snapshot would mix two
  runs); ``--epochs`` may differ (it extends a run);
* ``--resume`` in a folder without a snapshot says so in one line and
  starts a fresh run.
"""
import json
import warnings
from pathlib import Path

from chainer_tagger.atomic_file import write_text_atomic, writable_folder
from chainer_tagger.datasets.gtzan import clip_files, shown_name
from chainer_tagger.errors import ChainerTaggerWarning, TrainingError
from chainer_tagger.training.snapshots import latest_snapshot, snapshots

#: The file of a run's settings and data fingerprint in its folder.
RUN_SETTINGS = 'run_settings.json'
#: What a finished or interrupted run leaves that another run would
#: overwrite.
RUN_RESULTS = ('best_model.npz', 'model.npz')


def run_settings(config, recipe):
    """What makes a run this run: the options that change its results
    (``recipe``: the learning rate, dropout and other values the model's
    recipe filled in), without ``--epochs`` (a run may be extended) and
    without how it runs (device, progress, snapshots)."""
    settings = {'model': str(config.model), 'seed': config.seed,
                'test_fraction': config.test_fraction,
                'windows': config.windows, 'input_fill': config.input_fill,
                'batch_size': config.batch_size}
    if config.model == 'probe':
        settings['features'] = str(config.features)
    else:
        settings.update(optimizer=config.optimizer,
                        weight_decay=config.weight_decay,
                        train_body=config.train_body)
    settings.update(recipe)
    return settings


def _results(out):
    found = [name for name in RUN_RESULTS if (out / name).is_file()]
    return found + [p.name for _, p in snapshots(out)]


def _setting_differences(stored, settings):
    keys = sorted(set(stored) | set(settings))
    return ['{} {} (this run: {})'.format(
        k, json.dumps(stored.get(k)), json.dumps(settings.get(k)))
        for k in keys if stored.get(k) != settings.get(k)]


def _data_differences(stored, files):
    before = {name: (size, mtime) for name, size, mtime in stored}
    now = {name: (size, mtime) for name, size, mtime in files}
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    changed = sorted(k for k in set(now) & set(before)
                     if now[k] != before[k])
    parts = []
    for what, names in (('added', added), ('removed', removed),
                        ('changed', changed)):
        if names:
            parts.append('{} {} (e.g. {})'.format(
                len(names), what, shown_name(names[0])))
    return ['the data: clips ' + ', '.join(parts)] if parts else []


#: Recipe values added since runs were first recorded, with the value a
#: run recorded before them had: a run whose record lacks one is resumed
#: without it (:func:`recorded_recipe`), so it goes on as it began.
ADDED_RECIPE_VALUES = {'training_gains_db': []}


def recorded_recipe(config, recipe):
    """The recipe to train ``config``'s run with: ``recipe``, less the
    :data:`ADDED_RECIPE_VALUES` that the record of the run being resumed
    (``--resume`` into a folder that holds one) does not have."""
    record = Path(config.out) / RUN_SETTINGS
    if not (config.resume and record.is_file()):
        return recipe
    stored, _ = _read_settings(record)
    return {k: v for k, v in recipe.items()
            if k in stored or k not in ADDED_RECIPE_VALUES}


def _read_settings(path):
    try:
        stored = json.loads(path.read_text())
        return stored['settings'], stored['data']['clips']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TrainingError('{}: unreadable ({}); remove it, or choose '
                            'another --out'.format(path, e)) from None


def prepare_run_folder(config, recipe, write=True):
    """Check ``config.out`` for this run (see the module docstring), create
    it, and record the run's settings and data there (``write``: this
    process writes, rank 0 of a distributed run).

    Returns whether the run resumes from a snapshot: False for a fresh run
    (a ``--resume`` without a snapshot says so in one
    :class:`~chainer_tagger.errors.ChainerTaggerWarning`).  Raises
    :class:`~chainer_tagger.errors.TrainingError` (one line) for a folder
    of another run.
    """
    out = Path(config.out)
    settings = json.loads(json.dumps(run_settings(config, recipe)))
    files = clip_files(config.data)
    results = _results(out) if out.is_dir() else []
    record = out / RUN_SETTINGS
    if record.is_file():
        stored, stored_files = _read_settings(record)
        differences = _setting_differences(stored, settings) + \
            _data_differences(stored_files, files)
        if differences:
            raise TrainingError(
                '--out {} holds another run{}: {}; choose another --out'
                .format(out, ' (its {})'.format(', '.join(results))
                        if results else '', '; '.join(differences)))
        if results and not config.resume:
            raise TrainingError(
                '--out {} already holds this run ({}): continue it with '
                '--resume, or choose another --out'.format(
                    out, ', '.join(results)))
    elif results:
        raise TrainingError(
            '--out {} holds the results of a run without {} (an older '
            'chainer-tagger, or another program): cannot tell what run '
            'they are of; choose another --out'.format(
                out, RUN_SETTINGS))
    resume = bool(config.resume and latest_snapshot(out) is not None)
    if config.resume and not resume:
        warnings.warn('--resume: no snapshot in {}: starting a fresh '
                      'run'.format(out), ChainerTaggerWarning, stacklevel=2)
    if write:
        writable_folder(str(out), 'output folder')
        write_text_atomic(record, json.dumps(
            {'settings': settings,
             'data': {'folder': str(Path(config.data).resolve()),
                      'clips': files}}, indent=1))
    return resume
