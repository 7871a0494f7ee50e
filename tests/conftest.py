"""Shared fixtures: the reference data in ../shared, a private cache.

Tests that read ``../shared`` are marked ``shared``; those that start MPI
processes ``mpi``; those that take minutes ``slow``; those that need a CUDA
GPU ``gpu``; those that need the ``[gpu]`` extra installed (CuPy and
NVIDIA's libraries) but no GPU ``gpu_extra``.  Without ``../shared`` the
``shared`` tests are deselected (with a line saying so) and the others
run; under CI (``CI=true``) a missing ``../shared`` is an error instead.
The ``gpu_extra`` tests are deselected (with a line) where CuPy is not
installed.  The ``gpu`` tests run only with ``CHAINER_TAGGER_GPU_TESTS=1``
(``make gpu-check``), where a missing GPU is an error.  ``pytest -m "not shared and not mpi and not slow"`` runs
anywhere in seconds.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import keras1_reference
from gtzan_fixture import make_tiny_gtzan
from trained_runs import TRAIN_ARGS

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('CHAINER_TAGGER_SHARED',
                             ROOT.parent / 'shared')).resolve()
KERAS_WEIGHTS = SHARED / 'keras-weights'
AUDIO = SHARED / 'audio'
REFERENCE = SHARED / 'reference' / 'crnn-msd-theano-published.json'
SONGS = ('bensound-cute', 'bensound-actionable', 'bensound-dubstep',
         'bensound-thejazzpiano')

HAVE_SHARED = KERAS_WEIGHTS.is_dir()
MARKERS = {
    'shared': 'reads the reference data in ../shared',
    'mpi': 'starts MPI processes (mpiexec)',
    'slow': 'takes a minute or more',
    'gpu': 'needs a CUDA GPU (run by make gpu-check)',
    'gpu_extra': 'needs the [gpu] extra installed, not a GPU (run by make '
                 'gpu-check)',
}
GPU_TESTS = os.environ.get('CHAINER_TAGGER_GPU_TESTS') == '1'


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line('markers', '{}: {}'.format(name, text))


def _deselect(config, items, marker, why):
    chosen = [i for i in items if i.get_closest_marker(marker)]
    if chosen:
        config.hook.pytest_deselected(items=chosen)
        items[:] = [i for i in items if not i.get_closest_marker(marker)]
        reporter = config.pluginmanager.get_plugin('terminalreporter')
        if reporter is not None:
            reporter.write_line('{} tests deselected: {}'.format(
                len(chosen), why))


def _have_gpu_extra():
    """CuPy installed (its metadata: importing it would load CUDA)."""
    import importlib.metadata
    try:
        importlib.metadata.version('cupy-cuda12x')
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def pytest_collection_modifyitems(config, items):
    if GPU_TESTS:
        from chainer_tagger.device import get_device
        from chainer_tagger.errors import DeviceError
        try:
            get_device(0)
        except DeviceError as e:
            raise pytest.UsageError('CHAINER_TAGGER_GPU_TESTS=1 but no CUDA '
                                    'GPU is usable: {} (chainer-tagger '
                                    'doctor)'.format(e))
    else:
        _deselect(config, items, 'gpu', 'they need a GPU (make gpu-check)')
    if not _have_gpu_extra():
        _deselect(config, items, 'gpu_extra', "they need the [gpu] extra "
                  "(pip install -e '.[gpu]'; make gpu-check)")
    if HAVE_SHARED:
        return
    if os.environ.get('CI'):
        raise pytest.UsageError(
            'the reference data is missing: expected {} (set '
            'CHAINER_TAGGER_SHARED to the shared/ folder)'.format(SHARED))
    _deselect(config, items, 'shared', 'they need the reference data in {} '
              '(set CHAINER_TAGGER_SHARED)'.format(SHARED))


@pytest.fixture(scope='session', autouse=True)
def _environment(tmp_path_factory):
    """Point the registry at ../shared and a fresh cache for the session."""
    cache = tmp_path_factory.mktemp('cache')
    old = {k: os.environ.get(k) for k in ('CHAINER_TAGGER_WEIGHTS_DIR',
                                          'CHAINER_TAGGER_CACHE')}
    os.environ['CHAINER_TAGGER_WEIGHTS_DIR'] = os.pathsep.join(
        [str(KERAS_WEIGHTS), str(SHARED / 'soundnet')])
    os.environ['CHAINER_TAGGER_CACHE'] = str(cache)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope='session')
def reference():
    with open(REFERENCE) as f:
        return json.load(f)


@pytest.fixture(scope='session')
def shipped_melgrams():
    """The original preprocessing's melgrams of the four songs, one batch."""
    return np.concatenate([np.load(AUDIO / (s + '.melgram.npy'))
                           for s in SONGS]).astype(np.float32)


@pytest.fixture(scope='session')
def keras1_scores():
    """``keras1_scores(name)``: ``(scores, features)`` of a registry
    tagger from the independent float64 NumPy forward pass of
    ``keras1_reference.py`` (Theano file), on the four shipped float64
    melgrams as one batch; computed once per session."""
    melgrams = np.concatenate([np.load(AUDIO / (s + '.melgram.npy'))
                               for s in SONGS])
    cache = {}

    def get(name):
        if name not in cache:
            [filename] = [f for f, (model, backend, _, _)
                          in keras1_reference.FILES.items()
                          if model == name and backend == 'theano']
            cache[name] = keras1_reference.run(KERAS_WEIGHTS, filename,
                                               melgrams)
        return cache[name]
    return get


_MODELS = {}


@pytest.fixture(scope='session')
def model():
    """``model(name)``: registry models, loaded once per session."""
    from chainer_tagger.models import load_model

    def get(name):
        if name not in _MODELS:
            _MODELS[name] = load_model(name)
        return _MODELS[name]
    return get


@pytest.fixture(scope='module')
def ten_minute_flac(tmp_path_factory):
    """A 10-minute 22,050 Hz sine, to check that memory stays bounded."""
    import soundfile as sf
    sr = 22050
    path = tmp_path_factory.mktemp('long') / 'long.flac'
    t = np.arange(10 * 60 * sr) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
             sr)
    return path


@pytest.fixture
def read_lengths(monkeypatch):
    """Lengths of every ``AudioSource.read`` during the test."""
    from chainer_tagger.audio import AudioSource
    lengths = []
    original = AudioSource.read

    def spy(self, start=0, stop=None):
        out = original(self, start, stop)
        lengths.append(len(out))
        return out
    monkeypatch.setattr(AudioSource, 'read', spy)
    return lengths


# -- Trained models on a tiny synthetic GTZAN folder (tests/training) ------

@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    """2 genres x 4 synthetic clips of 2 s (tests/gtzan_fixture.py)."""
    return make_tiny_gtzan(tmp_path_factory.mktemp('tiny'))


def _train(tmp_path_factory, name, args):
    from chainer_tagger.cli import main
    out = tmp_path_factory.mktemp(name)
    assert main(['train', '--out', str(out)] + args + TRAIN_ARGS) == 0
    return out


@pytest.fixture(scope='session')
def trained(tiny, tmp_path_factory):
    """music2vec trained with the CLI's defaults (apart from the size of
    the run: tests/trained_runs.py), once per session."""
    return _train(tmp_path_factory, 'music2vec', ['--data', str(tiny)])


@pytest.fixture(scope='session')
def probe(tiny, tmp_path_factory):
    """A linear probe on soundnet8 features of the tiny folder."""
    return _train(tmp_path_factory, 'probe', [
        '--model', 'probe', '--features', 'soundnet8', '--data', str(tiny)])


@pytest.fixture(scope='session')
def trained_crnn(tiny, tmp_path_factory):
    """crnn-msd fine-tuned to genres with the CLI's defaults (apart from
    the size of the run), once per session."""
    return _train(tmp_path_factory, 'crnn', ['--model', 'crnn-msd',
                                            '--data', str(tiny)])
