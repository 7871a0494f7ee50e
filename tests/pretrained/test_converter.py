"""`chainer-tagger convert` and the Keras-1 h5 reader."""
import hashlib
import shutil

import h5py
import numpy as np
import pytest

from chainer_tagger.cli import main
from chainer_tagger.errors import KerasWeightsError
from chainer_tagger.models import convert_weights
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.keras_h5 import read_keras_h5
from chainer_tagger.pretrained.model_file import read_model_meta

from conftest import KERAS_WEIGHTS

pytestmark = pytest.mark.shared


#: The shared Keras files and what they are (shared/README.md and the
#: upstream model code): architecture, registry name, backend, BN mode of the
#: conv blocks, tag vocabulary.
SHARED_FILES = {
    'music_tagger_crnn_weights_theano.h5':
        ('crnn', 'crnn-msd', 'theano', 0, 'msd'),
    'music_tagger_crnn_weights_tensorflow.h5':
        ('crnn', 'crnn-msd', 'tensorflow', 0, 'msd'),
    'music_tagger_cnn_weights_theano.h5':
        ('cnn', 'cnn-msd', 'theano', 0, 'msd'),
    'music_tagger_cnn_weights_tensorflow.h5':
        ('cnn', 'cnn-msd', 'tensorflow', 0, 'msd'),
    'cnn_weights_theano.h5': ('cnn', 'cnn0-msd', 'theano', 2, 'msd'),
    'cnn_weights_tensorflow.h5': ('cnn', 'cnn0-msd', 'tensorflow', 2, 'msd'),
    'rnn_weights_theano.h5': ('crnn', 'rnn0-msd', 'theano', 2, 'msd'),
    'rnn_weights_tensorflow.h5': ('crnn', 'rnn0-msd', 'tensorflow', 2, 'msd'),
    'crnn_net_gru_adam_ours_epoch_40.h5':
        ('crnn', 'crnn-gtzan', 'theano', 0, 'gtzan'),
}


def _weights(group):
    return {n.decode(): group[n] for n in group.attrs.get('weight_names', [])}


def h5_facts(path):
    """What a Keras file says about itself, read with h5py alone."""
    with h5py.File(path, 'r') as f:
        layers = {n.decode(): _weights(f[n]) for n in f.attrs['layer_names']
                  if n.decode() in f}
        names = [w for weights in layers.values() for w in weights]
        top = layers.get('output') or layers.get('preds')
        bn1 = [w[()] for w in layers['bn1'].values()]
        return {
            'recurrent': 'gru1' in layers and 'gru2' in layers,
            'conv1_filters': next(iter(layers['conv1'].values())).shape[0],
            'outputs': next(iter(top.values())).shape[-1],
            'tensorflow_names': all(n.endswith(':0') for n in names),
            # gamma, beta, running_mean, running_std never updated: mode 2
            'bn1_untouched': not bn1[2].any() and (bn1[3] == 1).all(),
        }


@pytest.mark.parametrize('filename', sorted(SHARED_FILES))
def test_convert_every_shared_file(filename, tmp_path, capsys):
    arch, name, backend, bn_mode, tags = SHARED_FILES[filename]
    src = KERAS_WEIGHTS / filename
    # The table holds in the file itself ...
    assert h5_facts(src) == {
        'recurrent': arch == 'crnn',
        'conv1_filters': {'crnn': 64, 'cnn': 32}[arch],
        'outputs': {'msd': 50, 'gtzan': 10}[tags],
        'tensorflow_names': backend == 'tensorflow',
        'bn1_untouched': bn_mode == 2}
    # ... and in the registry, by the file's checksum:
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert sha in [f['sha256'] for f in registry.entry(name)['files']]
    dst = tmp_path / 'model.npz'
    assert main(['convert', str(src), str(dst)]) == 0
    assert name in capsys.readouterr().out
    meta = read_model_meta(dst)
    assert (meta['arch'], meta['name'], meta['source']['backend'],
            meta['settings']['bn_mode'], meta['settings']['tags']) == \
        (arch, name, backend, bn_mode, tags)


#: The first releases: nested containers, auto-generated layer names.
V1_FILES = {
    'v1/weights_best.hdf5': ('cnn', 'cnn0-msd-v1', 'theano', 2, 'msd'),
    'v1/rnn_weights_best.hdf5': ('crnn', 'rnn0-msd-v1', 'theano', 2, 'msd'),
}


@pytest.mark.parametrize('filename', sorted(V1_FILES))
def test_convert_the_first_releases(filename, tmp_path, capsys):
    arch, name, backend, bn_mode, tags = V1_FILES[filename]
    dst = tmp_path / 'model.npz'
    assert main(['convert', str(KERAS_WEIGHTS / filename), str(dst)]) == 0
    assert name in capsys.readouterr().out
    meta = read_model_meta(dst)
    assert (meta['arch'], meta['name'], meta['source']['backend'],
            meta['settings']['bn_mode'], meta['settings']['tags']) == \
        (arch, name, backend, bn_mode, tags)


@pytest.mark.parametrize('filename', sorted(SHARED_FILES))
def test_unregistered_copy_is_read_as_the_same_model(filename, tmp_path):
    """For a file the registry does not know (here: one attribute added,
    so a new checksum) the converter reads architecture, backend, BN mode
    and vocabulary off the layers."""
    arch, _, backend, bn_mode, tags = SHARED_FILES[filename]
    src = tmp_path / filename
    shutil.copy(KERAS_WEIGHTS / filename, src)
    with h5py.File(src, 'r+') as f:
        f.attrs['note'] = 'a copy'
    with pytest.warns(UserWarning, match='Keras version'):
        meta = convert_weights(src, tmp_path / 'model.npz')
    assert meta['name'] is None
    assert (meta['arch'], meta['source']['backend'],
            meta['settings']['bn_mode'], meta['settings']['tags']) == \
        (arch, backend, bn_mode, tags)


def test_keras_preset_of_each_registered_file(tmp_path):
    """Each file runs by default as the Keras release that published its
    table (crnn-msd: Keras 1.1, Theano), else the one it was trained
    with; `convert --keras` records another."""
    expected = {'music_tagger_crnn_weights_theano.h5': '1.1-theano',
                'crnn_net_gru_adam_ours_epoch_40.h5': '1.1-theano',
                'music_tagger_cnn_weights_theano.h5': '1.0.6-theano',
                'cnn_weights_theano.h5': '1.0.6-theano',
                'rnn_weights_theano.h5': '1.0.6-theano',
                'v1/weights_best.hdf5': '1.0.6-theano',
                'v1/rnn_weights_best.hdf5': '1.0.6-theano'}
    for filename, preset in expected.items():
        meta = convert_weights(KERAS_WEIGHTS / filename,
                               tmp_path / "m.npz")
        assert meta['settings']['keras'] == preset, filename
    dst = tmp_path / 'tf.npz'
    assert main(['convert', str(KERAS_WEIGHTS / 'cnn_weights_theano.h5'),
                 str(dst), '--keras', '1.0.6-tensorflow']) == 0
    assert read_model_meta(dst)['settings']['keras'] == '1.0.6-tensorflow'


def test_nested_v1_files_hold_the_same_layers_as_named_ones():
    """The first release's nested containers and auto-generated names are
    matched to the same roles, in the same order, as Choi's named files
    of the same architecture."""
    for v1, named in (('v1/weights_best.hdf5', 'cnn_weights_theano.h5'),
                      ('v1/rnn_weights_best.hdf5', 'rnn_weights_theano.h5')):
        old, _ = read_keras_h5(KERAS_WEIGHTS / v1)
        new, _ = read_keras_h5(KERAS_WEIGHTS / named)
        assert [(x.kind, {k: v.shape for k, v in x.weights.items()})
                for x in old] == \
            [(x.kind, {k: v.shape for k, v in x.weights.items()})
             for x in new]
        assert old[1].name in ('convolution2d_5', 'convolution2d_1')
        assert new[1].name == 'conv1'


def test_named_files_convert_to_their_arrays(tmp_path):
    """Choi's named files give the arrays of the layers of those names."""
    from chainer_tagger.models import load_model
    src = KERAS_WEIGHTS / 'rnn_weights_theano.h5'
    convert_weights(src, tmp_path / 'm.npz')
    m = load_model(tmp_path / 'm.npz')
    with h5py.File(src, 'r') as f:
        np.testing.assert_array_equal(
            m.block3.conv.W.array, f['conv3']['conv3_W'][()][..., ::-1, ::-1])
        np.testing.assert_array_equal(m.bn_0_freq.running_std,
                                      f['bn_0_freq']['bn_0_freq_running_std'])
        np.testing.assert_array_equal(m.gru1.W.array[:, 64:],
                                      f['gru1']['gru1_W_h'])
        np.testing.assert_array_equal(m.output.b.array,
                                      f['output']['output_b'])


def _copy_with_modified_layer(src, dst, layer, weight, value):
    shutil.copy(src, dst)
    with h5py.File(dst, 'r+') as f:
        name = [n for n in f[layer].attrs['weight_names']
                if n.decode().startswith('{}_{}'.format(layer, weight))][0]
        del f[layer][name]
        f[layer].create_dataset(name, data=value)


def test_shape_mismatch_names_the_layer_and_both_shapes(tmp_path):
    src = tmp_path / 'bad.h5'
    _copy_with_modified_layer(
        KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5', src, 'conv2',
        'W', np.zeros((128, 64, 5, 5), np.float32))
    with pytest.raises(KerasWeightsError,
                       match=r'expected conv2: conv2d W \(128, 64, 3, 3\); '
                             r'found conv2: conv2d W \(128, 64, 5, 5\)'):
        convert_weights(src, tmp_path / 'out.npz', keras='1.2')
    assert not (tmp_path / 'out.npz').exists()


def test_a_model_of_other_tags_names_the_layer_and_both_shapes():
    from chainer_tagger.models import MusicTaggerCRNN
    from chainer_tagger.pretrained.keras_h5 import assign_keras_weights
    layers, backend = read_keras_h5(
        KERAS_WEIGHTS / 'crnn_net_gru_adam_ours_epoch_40.h5')
    with pytest.raises(KerasWeightsError,
                       match=r'output/W: the file has shape \(10, 32\), '
                             r'the model expects \(50, 32\)'):
        assign_keras_weights(MusicTaggerCRNN(tags='msd'), layers, backend)


def test_wrong_architecture_is_refused(tmp_path, capsys):
    src = KERAS_WEIGHTS / 'music_tagger_cnn_weights_theano.h5'
    assert main(['convert', str(src), str(tmp_path / 'x.npz'),
                 '--arch', 'crnn']) == 2
    assert "holds a 'cnn' model, not 'crnn'" in capsys.readouterr().err


def test_h5_of_another_model_is_refused(tmp_path):
    src = tmp_path / 'other.h5'
    with h5py.File(src, 'w') as f:
        f.attrs['layer_names'] = [b'dense_1']
        g = f.create_group('dense_1')
        g.attrs['weight_names'] = [b'dense_1_W']
        g.create_dataset('dense_1_W', data=np.zeros((3, 2)))
    with pytest.raises(KerasWeightsError, match='cannot tell the '
                                                'architecture'):
        convert_weights(src, tmp_path / 'o.npz')


@pytest.mark.parametrize('how', ['truncated', 'garbage', 'not-keras'])
def test_corrupted_h5_is_refused_and_nothing_written(how, tmp_path,
                                                     capsys):
    src = tmp_path / 'broken.h5'
    data = (KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5'
            ).read_bytes()
    if how == 'truncated':
        src.write_bytes(data[:len(data) // 2])
    elif how == 'garbage':
        src.write_bytes(b'\x89HDF\r\n\x1a\n' + b'\x00' * 5000)
    else:
        with h5py.File(src, 'w') as f:
            f.create_dataset('x', data=[1, 2])
    dst = tmp_path / 'out.npz'
    assert main(['convert', str(src), str(dst)]) == 2
    err = capsys.readouterr().err
    assert str(src) in err
    assert not dst.exists()
    assert not list(tmp_path.glob('.partial-*'))


def test_write_is_atomic_when_interrupted(tmp_path, monkeypatch):
    """Ctrl-C while writing leaves neither a half-written file nor the
    temporary file, and keeps an earlier file intact."""
    dst = tmp_path / 'model.npz'
    src = KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5'
    convert_weights(src, dst)
    before = dst.read_bytes()

    def interrupted(f, **arrays):
        f.write(b'PK partial')
        raise KeyboardInterrupt
    monkeypatch.setattr(np, 'savez', interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_weights(src, dst)
    assert dst.read_bytes() == before
    assert not list(tmp_path.glob('.partial-*'))


def test_unregistered_file_warns_about_keras_version(tmp_path):
    src = tmp_path / 'copy.h5'
    _copy_with_modified_layer(
        KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5', src, 'output',
        'b', np.zeros(50, np.float32))
    with pytest.warns(UserWarning, match='Keras version .* unknown; reading '
                                         'it as Keras 1.1-theano .*eps 1e-05'):
        meta = convert_weights(src, tmp_path / 'o.npz')
    assert meta['name'] is None
    assert meta['settings']['keras'] == '1.1-theano'
    meta = convert_weights(src, tmp_path / 'o.npz', keras='1.0.7-theano')
    assert meta['settings']['keras'] == '1.0.7-theano'
    # The former option names the preset it stands for.
    with pytest.warns(FutureWarning, match='1.0.6-theano'):
        meta = convert_weights(src, tmp_path / 'o.npz', running_std_is='std')
    assert meta['settings']['keras'] == '1.0.6-theano'
    with pytest.warns(FutureWarning, match='1.1-theano .*eps 1e-05'):
        meta = convert_weights(src, tmp_path / 'o.npz',
                               running_std_is='variance')
    assert meta['settings']['keras'] == '1.1-theano'


def test_conversion_leaves_the_global_rng_alone(tmp_path):
    """A seeded run must initialise the same whether or not it had to
    convert weights first."""
    np.random.seed(3)
    convert_weights(KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5',
                    tmp_path / "a.npz")
    after_conversion = np.random.rand()
    np.random.seed(3)
    assert np.random.rand() == after_conversion
