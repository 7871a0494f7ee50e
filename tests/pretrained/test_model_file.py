"""Model files are read without unpickling: a .npz whose pickle would run
code is refused everywhere the project reads one, before the code runs."""
import json
import os

import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.errors import ModelFileError, UnsafeFileError
from chainer_tagger.models import (ARCHITECTURES, MusicTaggerCNN,
                                   load_model)
from chainer_tagger.pretrained import registry, save_model_npz
from chainer_tagger.pretrained.model_file import (load_npz_safely,
                                                  read_model_meta,
                                                  validate_meta)

from conftest import AUDIO
from gtzan_fixture import make_tiny_gtzan


class _Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, ('touch {}'.format(self.marker),))


@pytest.fixture
def genuine(tmp_path):
    """A real (randomly initialised) CNN tagger model file."""
    path = tmp_path / 'genuine.npz'
    save_model_npz(path, MusicTaggerCNN(), {
        'arch': 'cnn', 'name': None, 'settings': {
            'tags': 'msd', 'bn_mode': 0, 'running_std_is': 'std',
            'per_clip': False}})
    return path


def _poison(src, dst, marker, entry='block1/conv/b'):
    """``src`` with one entry replaced by an object array whose pickle
    would create ``marker``."""
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[entry] = np.array([_Payload(marker)], dtype=object)
    np.savez(dst, **arrays)
    return dst


@pytest.fixture
def evil(genuine, tmp_path):
    marker = tmp_path / 'pwned'
    return _poison(genuine, tmp_path / 'evil.npz', marker), marker


def test_genuine_file_loads(genuine):
    """(A file of an older version: its running_std_is 'std' is read as
    the Keras preset it meant.)"""
    model = load_model(str(genuine))
    assert model.arch == 'cnn' and len(model.tags) == 50
    assert model.settings['keras'] == '1.0.6-theano'
    assert model.bn_0_freq.preset.running_std == 'std'


def test_object_array_is_refused_before_any_code_runs(evil):
    path, marker = evil
    with pytest.raises(UnsafeFileError, match="entry 'block1/conv/b'"):
        load_model(str(path))
    with pytest.raises(UnsafeFileError, match='evil.npz'):
        load_npz_safely(path, MusicTaggerCNN())
    assert not marker.exists()
    # Chainer's own loader would have run the payload: the test is real.
    import chainer
    with pytest.raises(Exception):
        chainer.serializers.load_npz(str(path), MusicTaggerCNN())
    assert marker.exists()


@pytest.mark.parametrize('command', [
    ['tag', str(AUDIO / 'bensound-cute.melgram.npy'), '--no-progress',
     '-m'],
    ['taggram', str(AUDIO / 'bensound-cute.mp3'), '-o', 'x.png', '-m'],
    ['embed', str(AUDIO / 'bensound-cute.melgram.npy'), '-o', 'x.npy', '-m'],
    ['export', '-o', 'x.onnx', '-m'],
])
def test_every_command_refuses_the_file(command, evil, capsys, tmp_path,
                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, marker = evil
    assert main(command + [str(path)]) == 2
    err = capsys.readouterr().err
    assert 'holds Python objects' in err and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_evaluate_refuses_the_file(evil, capsys, tmp_path):
    path, marker = evil
    data = make_tiny_gtzan(tmp_path / 'data')
    assert main(['evaluate', '--model', str(path), '--data', str(data),
                 '--no-progress']) == 2
    assert 'holds Python objects' in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.shared
def test_poisoned_cache_entry_is_refused(genuine, tmp_path, capsys):
    """A writable cache is an attack path: a converted model replaced by a
    poisoned file is never unpickled.  Its checksum no longer matches, so
    it is rebuilt from the verified source with a warning naming it; with
    its recorded checksum forged too, the loader refuses it."""
    from chainer_tagger.pretrained import cache
    marker = tmp_path / 'pwned'
    cached = registry.ensure_converted('cnn-msd', ARCHITECTURES)
    _poison(cached, cached, marker, entry='output/W')
    assert main(['tag', str(AUDIO / 'bensound-cute.melgram.npy'), '-m',
                 'cnn-msd', '--no-progress']) == 0
    assert 'warning: cached model file {}: damaged'.format(cached) in \
        capsys.readouterr().err
    assert not marker.exists()
    _poison(cached, cached, marker, entry='output/W')
    cache.record_checksum(cached)  # the attacker rewrote the checksum
    assert main(['tag', str(AUDIO / 'bensound-cute.melgram.npy'), '-m',
                 'cnn-msd', '--no-progress']) == 2
    assert 'holds Python objects' in capsys.readouterr().err
    assert not marker.exists()
    cache.discard(cached)  # the session's cache: converted again


@pytest.mark.shared
def test_poisoned_snapshot_is_refused_on_resume(tmp_path, capsys):
    data = make_tiny_gtzan(tmp_path / 'data')
    out = tmp_path / 'run'
    out.mkdir()
    marker = tmp_path / 'pwned'
    # The folder of this very run (its settings and data recorded), so
    # that --resume opens the snapshot.
    from chainer_tagger.training import TrainingConfig
    from chainer_tagger.training.run_folder import prepare_run_folder
    from chainer_tagger.training.trainer import run_recipe
    config = TrainingConfig(data=str(data), out=str(out), batch_size=2,
                            test_fraction=0.25)
    prepare_run_folder(config, run_recipe(config, 'music2vec'))
    with open(out / 'snapshot_iter_3', 'wb') as f:  # Chainer's name
        np.savez(f, **{'updater/iteration': np.array(3),
                       'updater/model:main/predictor/model/output/b':
                           np.array([_Payload(marker)], dtype=object)})
    assert main(['train', '--model', 'music2vec', '--data', str(data),
                 '--out', str(out), '--resume', '--epochs', '1',
                 '--batch-size', '2', '--test-fraction', '0.25',
                 '--no-progress', '--no-embeddings']) == 2
    err = capsys.readouterr().err
    assert 'snapshot_iter_3' in err and 'holds Python objects' in err
    assert not marker.exists()


def test_file_without_metadata_is_refused(genuine, tmp_path):
    with np.load(genuine) as f:
        arrays = {k: f[k] for k in f.files if k != '_meta'}
    np.savez(tmp_path / 'plain.npz', **arrays)
    with pytest.raises(ModelFileError, match='without chainer-tagger'):
        load_model(str(tmp_path / 'plain.npz'))


@pytest.mark.parametrize('meta,message', [
    ({'arch': 'rootkit', 'settings': {}}, 'unknown architecture'),
    ({'arch': 'cnn', 'settings': {'pretrained_model': '/etc/passwd'}},
     "'pretrained_model' is not one"),
    ({'arch': 'cnn', 'settings': {'bn_mode': '0'}}, "'bn_mode' must be int"),
    ({'arch': 'cnn', 'settings': {'per_clip': 1}},
     "'per_clip' must be bool"),
    ({'arch': 'cnn', 'settings': {'bn_mode': True}},
     "'bn_mode' must be int"),
    ({'arch': 'cnn', 'settings': {'tags': ['rock', 3]}}, 'list strings'),
    ({'arch': 'cnn', 'settings': {'keras': 1.1}}, "'keras' must be str"),
    ({'arch': 'music2vec', 'settings': {'dropout': [0.1]}},
     "'dropout' must be int or float"),
    ({'arch': 'cnn', 'settings': []}, 'not a JSON object'),
])
def test_metadata_is_validated_before_any_array_is_read(meta, message,
                                                        genuine, tmp_path):
    with np.load(genuine) as f:
        arrays = {k: f[k] for k in f.files}
    arrays['_meta'] = np.array(json.dumps(meta))
    path = tmp_path / 'odd.npz'
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match=message):
        validate_meta(read_model_meta(path), ARCHITECTURES, path)
    with pytest.raises(ModelFileError, match=message):
        load_model(str(path))


def test_damaged_file_is_a_clear_error(genuine, tmp_path):
    data = genuine.read_bytes()
    (tmp_path / 'cut.npz').write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match='not a readable .npz'):
        load_model(str(tmp_path / 'cut.npz'))


def test_entries_holding_only_none_read_as_none(tmp_path):
    """Chainer stores a trigger's unset best value as a pickled None;
    such entries are read (by the array-only unpickler) as None again, so
    genuine trainer snapshots still load."""
    import chainer
    from chainer.training import triggers
    path = tmp_path / 'state.npz'
    trigger = triggers.MaxValueTrigger('validation/main/accuracy')
    chainer.serializers.save_npz(str(path), trigger)
    with np.load(path, allow_pickle=True) as f:
        assert f['best_value'].dtype == object  # what Chainer wrote
    restored = triggers.MaxValueTrigger('validation/main/accuracy')
    restored._best_value = 0.5
    load_npz_safely(path, restored)
    assert restored._best_value is None
