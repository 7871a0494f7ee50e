"""Trained models on a tiny synthetic GTZAN folder, shared by the training
tests (each trained once per session)."""
import pytest

from chainer_tagger.cli import main

from gtzan_fixture import make_tiny_gtzan
from trained_runs import TRAIN_ARGS


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    return make_tiny_gtzan(tmp_path_factory.mktemp('tiny'))


@pytest.fixture(scope='session')
def trained(tiny, tmp_path_factory):
    """music2vec trained with the CLI's defaults (apart from the size of
    the run)."""
    out = tmp_path_factory.mktemp('music2vec')
    assert main(['train', '--data', str(tiny), '--out', str(out)] +
                TRAIN_ARGS) == 0
    return out


@pytest.fixture(scope='session')
def probe(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp('probe')
    assert main(['train', '--model', 'probe', '--features', 'soundnet8',
                 '--data', str(tiny), '--out', str(out)] + TRAIN_ARGS) == 0
    return out
