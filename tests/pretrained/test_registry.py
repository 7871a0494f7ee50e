"""The weight registry: resolution order, sha256 checks, verified download
(against a local HTTP server on 127.0.0.1 serving ../shared)."""
import functools
import http.server
import shutil
import threading

import pytest

from chainer_tagger.configuration import KERAS_PRESETS
from chainer_tagger.errors import PretrainedModelError
from chainer_tagger.models import ARCHITECTURES, load_model
from chainer_tagger.pretrained import registry
from chainer_tagger.cli import main

from conftest import KERAS_WEIGHTS, SHARED

pytestmark = pytest.mark.shared

NAMES = ('crnn-msd', 'crnn-gtzan', 'cnn-msd', 'cnn0-msd', 'rnn0-msd',
         'cnn0-msd-v1', 'rnn0-msd-v1')


def test_manifest_records_source_and_checksum_of_every_model():
    m = registry.manifest()
    assert set(NAMES) <= set(m)
    for name in NAMES:
        e = m[name]
        assert e['arch'] in ('crnn', 'cnn')
        assert e['settings']['tags'] in ('msd', 'gtzan')
        assert e['settings']['keras'] in KERAS_PRESETS
        assert e['keras_reason']
        for record in e['files']:
            assert record['url'].startswith('https://github.com/')
            assert len(record['sha256']) == 64
            [path] = registry.source_candidates(record['filename'])
            assert registry.sha256sum(path) == record['sha256']
    # The first releases are pinned to the commits that published them.
    assert '/bffb6257b038117f2c80b91222ec7ecda43cbb11/data/weights_best' \
        in m['cnn0-msd-v1']['files'][0]['url']
    assert '/3eaedbf4c4563a6d394a2b5b7760195428df2d94/data/rnn_weights' \
        in m['rnn0-msd-v1']['files'][0]['url']


def test_models_command_lists_availability_and_keras_presets(
        capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('CHAINER_TAGGER_CACHE', str(tmp_path))  # none yet
    assert main(['models']) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line and not line.startswith(' ')}
    for name in NAMES:
        assert rows[name][3] == registry.entry(name)['settings']['keras']
    assert rows['crnn-msd'][3] == '1.1-theano'
    assert rows['cnn0-msd-v1'][3] == '1.0.6-theano'
    assert 'source in {}'.format(KERAS_WEIGHTS / 'v1') in out
    assert 'why 1.1-theano: Trained with Keras <= 1.0.6' in out
    assert 'issue #33' in out


def test_weights_found_in_a_sub_folder_only_with_their_checksum(
        isolated, monkeypatch):
    """A weights folder is searched one level down (the shared v1/); a
    file of the same name but another checksum is not taken for it."""
    folder = isolated / 'weights'
    (folder / 'a').mkdir(parents=True)
    (folder / 'b').mkdir()
    shutil.copy(KERAS_WEIGHTS / 'cnn_weights_theano.h5',
                folder / 'a' / 'weights_best.hdf5')
    shutil.copy(KERAS_WEIGHTS / 'v1' / 'weights_best.hdf5',
                folder / 'b' / 'weights_best.hdf5')
    monkeypatch.setenv('CHAINER_TAGGER_WEIGHTS_DIR', str(folder))
    assert registry.find_source('cnn0-msd-v1') == \
        folder / 'b' / 'weights_best.hdf5'
    (folder / 'b' / 'weights_best.hdf5').unlink()
    with pytest.raises(PretrainedModelError,
                       match='does not match the registered'):
        registry.find_source('cnn0-msd-v1')


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache and no weights folder."""
    monkeypatch.setenv('CHAINER_TAGGER_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv('CHAINER_TAGGER_WEIGHTS_DIR', raising=False)
    return tmp_path


@pytest.fixture
def http_shared():
    """An HTTP server on 127.0.0.1 serving ../shared."""
    handler = functools.partial(_QuietHandler, directory=str(SHARED))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:{}'.format(server.server_address[1])
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _point_entry_at(monkeypatch, name, url, sha=None):
    entry = registry.entry(name)
    record = dict(entry['files'][0], url=url)
    if sha:
        record['sha256'] = sha
    monkeypatch.setitem(registry.manifest(), name,
                        dict(entry, files=[record]))


def test_download_verifies_and_caches(isolated, http_shared, monkeypatch):
    _point_entry_at(monkeypatch, 'crnn-gtzan', http_shared +
                    '/keras-weights/crnn_net_gru_adam_ours_epoch_40.h5')
    assert registry.status('crnn-gtzan') == 'not downloaded'
    path = registry.ensure_converted(
        'crnn-gtzan', ARCHITECTURES, progressbar=False)
    assert path.parent == isolated / 'cache'
    source = isolated / 'cache' / 'sources' / \
        'crnn_net_gru_adam_ours_epoch_40.h5'
    assert registry.sha256sum(source) == registry.entry(
        'crnn-gtzan')['files'][0]['sha256']
    assert registry.status('crnn-gtzan') == 'converted (cache)'
    assert load_model('crnn-gtzan').tags[0] == 'blues'


def test_download_with_wrong_checksum_is_refused(isolated, http_shared,
                                                 monkeypatch):
    _point_entry_at(monkeypatch, 'crnn-gtzan', http_shared +
                    '/keras-weights/crnn_net_gru_adam_ours_epoch_40.h5',
                    sha='0' * 64)
    with pytest.raises(PretrainedModelError, match='refused'):
        registry.ensure_converted(
            'crnn-gtzan', ARCHITECTURES, progressbar=False)
    sources = isolated / 'cache' / 'sources'
    assert not sources.exists() or not any(
        p.name.startswith('crnn_net') for p in sources.iterdir())


def test_unreachable_download_says_what_to_do(isolated, monkeypatch):
    _point_entry_at(monkeypatch, 'crnn-gtzan',
                    'http://127.0.0.1:9/nothing.h5')
    with pytest.raises(PretrainedModelError,
                       match='CHAINER_TAGGER_WEIGHTS_DIR'):
        registry.ensure_converted(
            'crnn-gtzan', ARCHITECTURES, progressbar=False)


def test_weights_dir_file_with_wrong_checksum_is_refused(isolated,
                                                         monkeypatch):
    folder = isolated / 'weights'
    folder.mkdir()
    shutil.copy(KERAS_WEIGHTS / 'rnn_weights_theano.h5',
                folder / 'music_tagger_crnn_weights_theano.h5')
    monkeypatch.setenv('CHAINER_TAGGER_WEIGHTS_DIR', str(folder))
    with pytest.raises(PretrainedModelError,
                       match='does not match the registered'):
        registry.ensure_converted('crnn-msd', ARCHITECTURES)


def test_resolution_order(isolated, monkeypatch, tmp_path):
    """Explicit path, then the weights folder, then the cache."""
    monkeypatch.setenv('CHAINER_TAGGER_WEIGHTS_DIR', str(KERAS_WEIGHTS))
    assert registry.status('cnn-msd').startswith('source in')
    converted = registry.ensure_converted('cnn-msd', ARCHITECTURES)
    assert registry.status('cnn-msd') == 'converted (cache)'
    # The cache answers once the weights folder is gone.
    monkeypatch.delenv('CHAINER_TAGGER_WEIGHTS_DIR')
    assert registry.ensure_converted('cnn-msd', ARCHITECTURES) == converted
    # An explicit .h5 path needs no registry lookup of its name.
    path, meta = registry.prepare(
        str(KERAS_WEIGHTS / 'cnn_weights_tensorflow.h5'), ARCHITECTURES)
    assert meta['settings']['bn_mode'] == 2
    # An explicit .npz path is used as it is.
    assert registry.prepare(str(converted), ARCHITECTURES)[0] == converted


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(PretrainedModelError,
                       match='crnn-msd'):
        load_model('crnn-imaginary')
