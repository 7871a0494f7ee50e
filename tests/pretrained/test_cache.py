"""Dead ends in the cache: damaged converted files are rebuilt, leftovers
of killed conversions removed, an unusable cache folder is one line."""
import os
import warnings

import numpy as np
import pytest

from chainer_tagger.atomic_file import atomic_write, remove_stale_partials
from chainer_tagger.cli import main
from chainer_tagger.errors import ChainerTaggerWarning
from chainer_tagger.models import ARCHITECTURES, load_model
from chainer_tagger.pretrained import cache, registry

from conftest import AUDIO, KERAS_WEIGHTS

pytestmark = pytest.mark.shared

MELGRAM = str(AUDIO / 'bensound-cute.melgram.npy')


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    """A cache holding a converted cnn-msd (converted once per module)."""
    folder = tmp_path_factory.mktemp('cache')
    old = os.environ.get('CHAINER_TAGGER_CACHE')
    os.environ['CHAINER_TAGGER_CACHE'] = str(folder)
    path = registry.ensure_converted('cnn-msd', ARCHITECTURES)
    good = path.read_bytes()
    yield path, good
    os.environ['CHAINER_TAGGER_CACHE'] = old


def _flip(data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize('damage', [
    lambda good: good[:len(good) // 2],   # truncated
    lambda good: b'',                     # emptied
    _flip,                                # one bit flipped
])
def test_damaged_cached_model_is_rebuilt_with_a_warning(cached, damage,
                                                        capsys):
    path, good = cached
    path.write_bytes(damage(good))
    assert cache.damage(path) is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert registry.ensure_converted('cnn-msd', ARCHITECTURES) == path
    [w] = [w for w in caught if w.category is ChainerTaggerWarning]
    assert str(path) in str(w.message) and 'rebuilding' in str(w.message)
    assert cache.damage(path) is None
    # Through the command line: one warning line, then the tags.
    path.write_bytes(damage(good))
    assert main(['tag', MELGRAM, '-m', 'cnn-msd', '--no-progress']) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith('warning: cached model file {}'.format(
        path))
    assert captured.out.splitlines()[1].split()[0] == 'jazz'


def test_leftovers_of_killed_conversions_are_removed(cached, tmp_path):
    path, _ = cached
    stale = path.parent / '.partial-killed.npz'
    stale.write_bytes(b'half a file')
    with atomic_write(path.parent / 'other.npz') as f:  # being written
        f.write(b'x')
        assert remove_stale_partials(path.parent) == [str(stale)]
        assert len(list(path.parent.glob('.partial-*'))) == 1
    assert not list(path.parent.glob('.partial-*'))
    stale.write_bytes(b'half a file')
    path.unlink()  # the next conversion cleans up first
    registry.ensure_converted('cnn-msd', ARCHITECTURES)
    assert not stale.exists()


@pytest.mark.parametrize('kind', ['file', 'unwritable'])
def test_unusable_cache_folder_is_one_line(kind, tmp_path, monkeypatch,
                                           capsys):
    target = tmp_path / 'cache'
    if kind == 'file':
        target.write_text('not a folder')
    else:
        target.mkdir()
        monkeypatch.setattr(os, 'access', lambda p, mode: False)
    monkeypatch.setenv('CHAINER_TAGGER_CACHE', str(target))
    monkeypatch.setenv('CHAINER_TAGGER_WEIGHTS_DIR', str(KERAS_WEIGHTS))
    assert main(['tag', MELGRAM, '-m', 'cnn-msd', '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'CHAINER_TAGGER_CACHE' in err
    assert ('not a folder' if kind == 'file' else 'not writable') in err


def test_explicit_h5_conversion_is_verified_too(cached):
    h5 = KERAS_WEIGHTS / 'cnn_weights_tensorflow.h5'
    path, _ = registry.prepare(str(h5), ARCHITECTURES)
    path.write_bytes(b'')
    with pytest.warns(ChainerTaggerWarning, match='rebuilding'):
        assert registry.prepare(str(h5), ARCHITECTURES)[0] == path
    assert load_model(str(h5)).predict(np.load(MELGRAM)).shape == (1, 50)
