"""Trainer snapshots that hold only what a run changes, and ``--resume``.

A snapshot (``snapshot_iter_<iteration>`` in the output folder, an
uncompressed ``.npz``) is Chainer's serialization of the trainer without
the frozen body: the trainable weights and the persistent values of the
model outside the body, the optimizer's state of those weights, the
iterator (epoch, position, order), NumPy's random state, and the state of
the extensions (the log, the best model's record).  With a frozen body
(the default) neither its weights nor their optimizer state ever change
(the trainer disables their update rules, so Adam keeps no moments of
them), so the snapshot records only the sha256 of the body's weights
(:data:`FROZEN_BODY_KEY`); on ``--resume`` the body is the one the run
builds again (the pretrained file), checked against that sha256, and a
different body is refused.  A music2vec snapshot is thus its head's
weights and their two Adam moments, 18 MB, where the whole trainer took
190 MB (SoundNet's 63 MB of weights and 126 MB of moments).  With
``--train-body`` the body is trainable and its weights and optimizer state
are in the snapshot like the head's.

Snapshots are written atomically (under a temporary name, renamed into
place, :func:`~chainer_tagger.atomic_file.atomic_write`), so a run killed
while writing one never leaves a broken snapshot, and only the latest
:data:`~chainer_tagger.configuration.TRAINING_SNAPSHOTS_KEPT` are kept
(older ones are removed once a newer one is complete).
"""
import hashlib
import os
from pathlib import Path

import numpy as np

import chainer
from chainer import training

from chainer_tagger.atomic_file import atomic_write, remove_stale_partials
from chainer_tagger.configuration import TRAINING_SNAPSHOTS_KEPT
from chainer_tagger.errors import TrainingError
from chainer_tagger.pretrained.model_file import open_npz

SNAPSHOT_PREFIX = 'snapshot_iter_'
#: The key of a snapshot that holds the sha256 of the frozen body.
FROZEN_BODY_KEY = '_frozen_body_sha256'
#: Where the trainer's serialization keeps the model and its optimizer.
_MODEL_PREFIX = 'updater/model:main/'
_OPTIMIZER_PREFIX = 'updater/optimizer:main/'


def snapshots(out):
    """``[(iteration, path)]`` of the snapshots in folder ``out``, oldest
    first (temporary files of unfinished writes are not snapshots)."""
    found = []
    for path in Path(out).glob(SNAPSHOT_PREFIX + '*'):
        suffix = path.name[len(SNAPSHOT_PREFIX):]
        if suffix.isdigit() and path.is_file():
            found.append((int(suffix), path))
    return sorted(found)


def latest_snapshot(out):
    """The snapshot of the highest iteration in folder ``out``, or None."""
    found = snapshots(out)
    return found[-1][1] if found else None


def links_sha256(links):
    """The sha256 of the parameters and persistent values of ``links``
    (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for link in links:
        serializer = chainer.serializers.DictionarySerializer()
        serializer.save(link)
        for name in sorted(serializer.target):
            value = np.ascontiguousarray(chainer.backends.cuda.to_cpu(
                serializer.target[name]))
            digest.update('{}|{}|{}|'.format(name, value.dtype.str,
                                             value.shape).encode())
            digest.update(value.tobytes())
    return digest.hexdigest()


def write_snapshot(path, arrays, keep=TRAINING_SNAPSHOTS_KEPT):
    """Write ``arrays`` to ``path`` atomically, then remove the snapshots of
    the same folder but the latest ``keep``.

    A write that fails or is killed leaves the earlier snapshots as they
    were (the new one appears only when complete).
    """
    path = Path(path)
    with atomic_write(path, 'wb', suffix='.npz') as f:
        np.savez(f, **arrays)
    for _, old in snapshots(path.parent)[:-keep]:
        try:
            os.remove(old)
        except FileNotFoundError:
            pass
    return path


class FrozenBody:
    """Which entries of the trainer's serialization belong to a frozen
    body, and the sha256 that stands for them.

    Parameters
    ----------
    target : chainer.Link
        The updater's model (the classifier around the network).
    links : list of chainer.Link
        The body's links (``net.body_links()``); empty when the body
        trains.
    """

    def __init__(self, target, links):
        paths = {id(link): path for path, link in target.namedlinks()}
        self.prefixes = tuple(paths[id(link)].lstrip('/') + '/'
                              for link in links)
        self.sha256 = links_sha256(links) if links else None

    def holds(self, key):
        """Whether ``key`` is a weight, persistent value or optimizer state
        of the frozen body."""
        for top in (_MODEL_PREFIX, _OPTIMIZER_PREFIX):
            if key.startswith(top) and key[len(top):].startswith(
                    self.prefixes):
                return True
        return False


def _serialize(trainer):
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(trainer)
    return {k: chainer.backends.cuda.to_cpu(v)
            for k, v in serializer.target.items()}


class Snapshots(training.Extension):
    """Write a snapshot of the trainer without the frozen body (see the
    module docstring) when its trigger fires.

    Runs at Chainer's snapshot priority (after the log, the held-out scores
    and the best model of the iteration), and removes the leftovers of
    snapshots that a killed run was writing when training starts.
    """

    priority = -100

    def __init__(self, frozen_body, keep=TRAINING_SNAPSHOTS_KEPT):
        self.frozen_body, self.keep = frozen_body, keep

    def initialize(self, trainer):
        remove_stale_partials(trainer.out)

    def __call__(self, trainer):
        arrays = {k: v for k, v in _serialize(trainer).items()
                  if not self.frozen_body.holds(k)}
        if self.frozen_body.sha256 is not None:
            arrays[FROZEN_BODY_KEY] = np.array(self.frozen_body.sha256)
        write_snapshot(Path(trainer.out) / '{}{}'.format(
            SNAPSHOT_PREFIX, trainer.updater.iteration), arrays, self.keep)


def _refuse_body(path, recorded, sha256):
    raise TrainingError(
        '--resume: {} was written with a frozen body of sha256 {}, this '
        'run builds one of sha256 {} (other pretrained weights or base '
        'model): resuming would mix two runs'.format(
            path, (recorded or 'unknown')[:16], sha256[:16]))


def check_frozen_body(out, links):
    """Before any work: refuse to resume from the latest snapshot in
    ``out`` if it was written with a frozen body other than ``links``."""
    path = latest_snapshot(out)
    if path is None or not links:
        return
    with open_npz(path) as npz:
        recorded = str(npz[FROZEN_BODY_KEY]) \
            if FROZEN_BODY_KEY in npz.files else None
    sha256 = links_sha256(links)
    if recorded != sha256:
        _refuse_body(path, recorded, sha256)


def load_snapshot(path, trainer, frozen_body):
    """Restore ``trainer`` from snapshot ``path`` (read without unpickling).

    The frozen body's entries are the trainer's own, once its sha256 is
    the snapshot's; every other entry must be in the snapshot
    (:class:`~chainer_tagger.errors.TrainingError` otherwise, one line).
    """
    with open_npz(path) as npz:
        stored = {k: npz[k] for k in npz.files}
    recorded = stored.pop(FROZEN_BODY_KEY, None)
    if frozen_body.sha256 is not None:
        recorded = None if recorded is None else str(recorded)
        if recorded != frozen_body.sha256:
            _refuse_body(path, recorded, frozen_body.sha256)
        stored.update({k: v for k, v in _serialize(trainer).items()
                       if frozen_body.holds(k)})
    try:
        chainer.serializers.NpzDeserializer(stored, strict=True).load(
            trainer)
    except (KeyError, ValueError) as e:
        raise TrainingError('--resume: {} does not fit this run ({}: {})'
                            .format(path, type(e).__name__, e)) from None


class ResumeFromSnapshot(training.Extension):
    """``--resume``: load the latest snapshot of the output folder into the
    trainer when training starts (:func:`load_snapshot`)."""

    trigger = (2 ** 62, 'iteration')  # never: it acts in initialize
    priority = training.PRIORITY_READER

    def __init__(self, frozen_body, resume=True):
        self.frozen_body, self.resume = frozen_body, resume

    def initialize(self, trainer):
        path = latest_snapshot(trainer.out) if self.resume else None
        if path is not None:
            load_snapshot(path, trainer, self.frozen_body)

    def __call__(self, trainer):
        pass
