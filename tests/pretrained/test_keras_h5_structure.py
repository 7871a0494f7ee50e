"""The Keras-1 h5 reader: nested containers, layers matched by structure,
and the refusal that lists expected against found layers.

The files are built here with h5py, laid out as Keras 1 wrote them: one
with the layer names Choi's later models gave (``bn_0_freq``, ``conv1``,
...), one as Keras 1.0.x saved his early models (auto-generated names, the
conv blocks in a nested ``Sequential`` whose group lists all its weights,
trainable ones first), and one with groups nested two levels deep.
"""
import h5py
import numpy as np
import pytest

from chainer_tagger.errors import KerasWeightsError
from chainer_tagger.models import convert_weights, load_model
from chainer_tagger.pretrained.keras_h5 import (
    expected_layers, match_architecture, read_keras_h5, split_weight_name)

N_TAGS = 50


def random_layers(arch, seed=0, mode2=True):
    """``[(role, kind, {weight: array})]`` of an architecture, random;
    with ``mode2`` the conv blocks' BN statistics are Keras' untouched
    0 and 1."""
    rng = np.random.RandomState(seed)
    out = []
    for layer in expected_layers(arch):
        weights = {}
        for name, shape in layer.shapes.items():
            shape = tuple(N_TAGS if n is None else n for n in shape)
            weights[name] = rng.standard_normal(shape).astype(np.float32)
        if layer.kind == 'batchnorm':
            weights['running_std'] = np.abs(weights['running_std']) + 0.1
            if mode2 and layer.role != 'bn_0_freq':
                weights['running_mean'][...] = 0
                weights['running_std'][...] = 1
        out.append((layer.role, layer.kind, weights))
    return out


def _names(values):
    return np.array([v.encode() for v in values])


def _group(parent, name, weights, tf=False):
    """A layer group: ``{full weight name: array}``."""
    g = parent.create_group(name)
    names = [n + (':0' if tf else '') for n in weights]
    g.attrs['weight_names'] = _names(names)
    for n, value in zip(names, weights.values()):
        g.create_dataset(n, data=value)
    return g


def write_named(path, layers, tf=False):
    """Choi's functional models: one group per layer, named by role, with
    layers without weights in between."""
    with h5py.File(path, 'w') as f:
        order = ['input_1']
        _group(f, 'input_1', {})
        for role, _, weights in layers:
            _group(f, role, {'{}_{}'.format(role, w): v
                             for w, v in weights.items()}, tf)
            order.append(role)
            if role.startswith('bn') and role != 'bn_0_freq':
                order.append('elu_' + role[2:])
                _group(f, order[-1], {})
        f.attrs['layer_names'] = _names(order)


def _auto_names(layers):
    """Keras 1.0.x names: ``batchnormalization_N``, ``convolution2d_N``,
    ``gru_N``, ``dense_N``, counted from an arbitrary start per kind."""
    counters = {'batchnorm': 6, 'conv2d': 5, 'gru': 1, 'dense': 2}
    prefix = {'batchnorm': 'batchnormalization', 'conv2d': 'convolution2d',
              'gru': 'gru', 'dense': 'dense'}
    names = []
    for _, kind, _ in layers:
        names.append('{}_{}'.format(prefix[kind], counters[kind]))
        counters[kind] += 1
    return names


def write_keras10(path, layers, tf=False):
    """Keras 1.0.x ``save_weights`` of Choi's early models: the conv
    blocks in a nested Sequential, saved as ONE group whose weight names
    list every trainable weight first, then the BN moving statistics."""
    names = _auto_names(layers)
    with h5py.File(path, 'w') as f:
        order = ['zeropadding2d_1']
        _group(f, order[0], {})
        first, blocks, rest = layers[0], [], []
        for name, layer in zip(names[1:], layers[1:]):
            (blocks if layer[0][:2] in ('co', 'bn') else rest).append(
                (name, layer))
        _group(f, names[0], {'{}_{}'.format(names[0], w): v
                             for w, v in first[2].items()}, tf)
        order.append(names[0])
        trainable, moving = {}, {}
        for name, (_, kind, weights) in blocks:
            for w, v in weights.items():
                target = moving if w.startswith('running') else trainable
                target['{}_{}'.format(name, w)] = v
        _group(f, 'sequential_4', dict(trainable, **moving), tf)
        order += ['sequential_4', 'flatten_2']
        _group(f, 'flatten_2', {})
        for name, (_, _, weights) in rest:
            _group(f, name, {'{}_{}'.format(name, w): v
                             for w, v in weights.items()}, tf)
            order.append(name)
        f.attrs['layer_names'] = _names(order)


def write_deep(path, layers):
    """Groups that carry their own ``layer_names``, two levels down, in a
    ``model_weights`` group (a whole-model save)."""
    with h5py.File(path, 'w') as f:
        root = f.create_group('model_weights')
        root.attrs['layer_names'] = _names(['model_1'])
        model = root.create_group('model_1')
        model.attrs['layer_names'] = _names(
            ['head', 'body', 'top'])
        head, body, top = (model.create_group(n)
                           for n in ('head', 'body', 'top'))
        for group, part in ((head, layers[:1]), (body, layers[1:-1]),
                            (top, layers[-1:])):
            order = []
            for role, _, weights in part:
                name = 'l_' + role
                _group(group, name, {'{}_{}'.format(name, w): v
                                     for w, v in weights.items()})
                order.append(name)
            group.attrs['layer_names'] = _names(order)


def _flip(w):
    return w[..., ::-1, ::-1]


def check_model(model, layers, backend='theano'):
    """Every weight of the model is the file's, by role."""
    by_role = {role: weights for role, _, weights in layers}
    np.testing.assert_array_equal(model.bn_0_freq.running_std,
                                  by_role['bn_0_freq']['running_std'])
    for i in range(1, 6 if model.arch == 'cnn' else 5):
        block = model['block{}'.format(i)]
        w = by_role['conv{}'.format(i)]['W']
        np.testing.assert_array_equal(
            block.conv.W.array, w if backend == 'tensorflow' else _flip(w))
        np.testing.assert_array_equal(block.bn.gamma.array,
                                      by_role['bn{}'.format(i)]['gamma'])
    if model.arch == 'crnn':
        np.testing.assert_array_equal(model.gru2.U.array[:, 32:64],
                                      by_role['gru2']['U_r'])
    np.testing.assert_array_equal(model.output.W.array,
                                  by_role['output']['W'].T)


@pytest.mark.parametrize('arch', ['cnn', 'crnn'])
@pytest.mark.parametrize('write', [write_named, write_keras10, write_deep])
def test_every_layout_converts_to_the_same_model(arch, write, tmp_path):
    layers = random_layers(arch)
    src = tmp_path / 'weights.h5'
    write(src, layers)
    meta = convert_weights(src, tmp_path / 'm.npz', keras='1.0.6-theano')
    assert meta['arch'] == arch and meta['source']['backend'] == 'theano'
    assert meta['settings'] == {'tags': 'msd', 'bn_mode': 2,
                                'keras': '1.0.6-theano'}
    check_model(load_model(tmp_path / 'm.npz'), layers)


@pytest.mark.parametrize('write', [write_named, write_keras10])
def test_tensorflow_names_are_read_and_kernels_left_as_they_are(
        write, tmp_path):
    layers = random_layers('crnn', mode2=False)
    src = tmp_path / 'tf.h5'
    write(src, layers, tf=True)
    found, backend = read_keras_h5(src)
    assert backend == 'tensorflow'
    assert [layer.kind for layer in found] == \
        [kind for _, kind, _ in layers]
    meta = convert_weights(src, tmp_path / 'm.npz', keras='1.1-tensorflow')
    assert meta['settings']['bn_mode'] == 0  # learned statistics: mode 0
    check_model(load_model(tmp_path / 'm.npz'), layers, 'tensorflow')


def test_nested_container_is_split_into_its_layers(tmp_path):
    layers = random_layers('cnn')
    write_keras10(tmp_path / 'w.h5', layers)
    found, _ = read_keras_h5(tmp_path / 'w.h5')
    assert [layer.name for layer in found] == [
        'batchnormalization_6', 'convolution2d_5', 'batchnormalization_7',
        'convolution2d_6', 'batchnormalization_8', 'convolution2d_7',
        'batchnormalization_9', 'convolution2d_8', 'batchnormalization_10',
        'convolution2d_9', 'batchnormalization_11', 'dense_2']
    # The moving statistics listed at the container's end joined their
    # layers.
    assert list(found[2].weights) == ['gamma', 'beta', 'running_mean',
                                      'running_std']


@pytest.mark.parametrize('name,group,expected', [
    ('bn_0_freq_running_std_1:0', 'bn_0_freq', ('bn_0_freq', 'running_std')),
    ('gru_1_b_z', 'gru_1', ('gru_1', 'b_z')),
    ('convolution2d_5_W', 'sequential_4', ('convolution2d_5', 'W')),
    ('batchnormalization_11_running_mean', 'sequential_4',
     ('batchnormalization_11', 'running_mean')),
    ('prelu_1_alphas', 'prelu_1', ('prelu_1', 'alphas')),
])
def test_weight_names_split_into_layer_and_weight(name, group, expected):
    assert split_weight_name(name, group) == expected


def test_a_missing_layer_is_refused_listing_expected_and_found(tmp_path):
    layers = random_layers('cnn')
    del layers[5]  # conv3
    write_named(tmp_path / 'w.h5', layers)
    with pytest.raises(KerasWeightsError) as e:
        convert_weights(tmp_path / 'w.h5', tmp_path / 'm.npz')
    message = str(e.value)
    assert message.startswith(str(tmp_path / 'w.h5'))
    assert 'cannot tell the architecture' in message
    assert 'for MusicTaggerCNN (cnn)' in message
    lines = message.splitlines()[1:]
    assert lines[4] == ('   5. expected bn2: batchnorm (128,); found bn2: '
                        'batchnorm (128,)')
    assert lines[5] == ('   6. expected conv3: conv2d W (128, 128, 3, 3); '
                        'found bn3: batchnorm (128,)  <- differs')
    assert lines[-1] == ('  12. expected output: dense W (256, *); found '
                         'nothing  <- differs')
    assert not (tmp_path / 'm.npz').exists()


def test_a_wrong_shape_and_an_unknown_layer_are_shown(tmp_path):
    layers = random_layers('crnn')
    role, kind, weights = layers[3]
    layers[3] = (role, kind, dict(weights, W=np.zeros((128, 64, 5, 5),
                                                      np.float32)))
    layers.insert(9, ('prelu_1', 'unknown',
                      {'alphas': np.zeros(3, np.float32)}))
    write_named(tmp_path / 'w.h5', layers)
    with pytest.raises(KerasWeightsError) as e:
        convert_weights(tmp_path / 'w.h5', tmp_path / 'm.npz', arch='crnn')
    message = str(e.value)
    assert ('4. expected conv2: conv2d W (128, 64, 3, 3); found conv2: '
            'conv2d W (128, 64, 5, 5)  <- differs') in message
    assert ('10. expected gru1: gru W_z (128, 32); found prelu_1: unknown '
            'alphas (3,)  <- differs') in message


def test_a_structure_that_fits_two_architectures_is_ambiguous(tmp_path):
    layers = random_layers('cnn')
    write_named(tmp_path / 'w.h5', layers)
    found, _ = read_keras_h5(tmp_path / 'w.h5')
    cnn = expected_layers('cnn')
    with pytest.raises(KerasWeightsError, match='ambiguous: .*cnn.*twin'):
        match_architecture(found, layouts={'cnn': cnn, 'twin': cnn})
    arch, roles = match_architecture(found, 'twin',
                                     layouts={'cnn': cnn, 'twin': cnn})
    assert arch == 'twin' and roles['conv5'].name == 'conv5'


def _text(shape):
    return '({})'.format(', '.join(str(n) for n in shape) +
                         (',' if len(shape) == 1 else ''))


@pytest.mark.parametrize('arch', ['crnn', 'cnn'])
def test_every_wrong_shape_shows_expected_against_found(tmp_path, arch):
    """For every weight of every layer (BN, convolution, GRU, dense), a
    file whose weight has one more row is refused with that layer's line
    showing the expected shape and the file's, which differ (a GRU's U_r
    used to be shown by W_z on both sides)."""
    layers = random_layers(arch, mode2=False)
    expected = expected_layers(arch)
    path = tmp_path / 'w.h5'
    for i, (role, kind, weights) in enumerate(layers):
        for weight, value in weights.items():
            shape = expected[i].shapes[weight]
            if shape[0] is None:
                continue  # the classifier's width: tested below
            wrong = np.zeros((value.shape[0] + 1,) + value.shape[1:],
                             np.float32)
            mutated = list(layers)
            mutated[i] = (role, kind, dict(weights, **{weight: wrong}))
            write_named(path, mutated)
            with pytest.raises(KerasWeightsError) as e:
                convert_weights(path, tmp_path / 'm.npz', arch=arch,
                                keras='1.1-theano')
            [line] = [line for line in str(e.value).splitlines()
                      if line.startswith('{:4d}. '.format(i + 1))]
            shown = weight if kind in ('gru', 'conv2d', 'dense') or \
                weight != 'gamma' else ''
            want = _text(tuple(wrong.shape[:1]) + tuple(
                '*' if n is None else n for n in shape[1:]))
            assert line == ('{:4d}. expected {}: {} {}{}; found {}: {} {}{}'
                            '  <- differs'.format(
                                i + 1, role, kind, shown + ' ' if shown
                                else '', _text(tuple(
                                    '*' if n is None else n
                                    for n in shape)),
                                role, kind, shown + ' ' if shown else '',
                                _text(wrong.shape))), line
            assert want != _text(shape)


def test_a_wrong_classifier_bias_shows_both_shapes(tmp_path):
    layers = random_layers('cnn')
    role, kind, weights = layers[-1]
    layers[-1] = (role, kind, dict(weights, b=np.zeros(N_TAGS + 1,
                                                       np.float32)))
    write_named(tmp_path / 'w.h5', layers)
    with pytest.raises(KerasWeightsError,
                       match=r'output/b: the file has shape \(51,\), the '
                       r'model expects \(50,\)'):
        convert_weights(tmp_path / 'w.h5', tmp_path / 'm.npz',
                        keras='1.1-theano')
