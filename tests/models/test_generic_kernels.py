"""The graph a GPU runs: every model with this package's CPU kernels
switched off (``generic_kernels()``: Chainer's standard functions, as on a
GPU with cuDNN) against references that do not go through the package's
kernels: Choi's published scores, the independent float64 NumPy forward
pass of the Keras-1 equations (``tests/keras1_reference.py``), and, for
SoundNet, Chainer's standard functions called here.  A function hook
checks that the graph was made of Chainer's functions only (the CPU
kernels run without a graph at inference, or as this package's
``FunctionNode``s), so a model that ignored ``generic_kernels()`` fails."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import SOUNDNET_INPUT_SCALE, SOUNDNET_LAYERS
from chainer_tagger.functions import generic_kernels

from graph_functions import FunctionsRun

pytestmark = pytest.mark.shared

TAGGERS = ('crnn-msd', 'crnn-gtzan', 'cnn-msd', 'cnn0-msd', 'rnn0-msd')


def generic_predict(tagger, melgrams):
    """Scores on the generic graph, all clips as one batch, and the hook
    that watched it."""
    with generic_kernels(), FunctionsRun() as hook:
        scores = tagger.predict(melgrams)
    convs = [link for link in tagger.links()
             if isinstance(link, L.Convolution2D)]
    hook.assert_standard('Convolution2DFunction')
    # Every conv layer ran as Chainer's convolution (one batch).
    assert hook.count('Convolution2DFunction') == len(convs)
    return scores, hook


def test_published_crnn_scores_on_the_generic_graph(model, reference,
                                                    shipped_melgrams):
    from conftest import SONGS
    crnn = model('crnn-msd')
    scores, hook = generic_predict(crnn, shipped_melgrams)
    hook.assert_standard('ELU', 'MaxPoolingND', 'Tanh', 'HardSigmoid')
    for song, s in zip(SONGS, scores):
        for tag, published in reference['songs'][song]:
            assert round(float(s[crnn.tags.index(tag)]), 3) == published


@pytest.mark.parametrize('name', TAGGERS)
def test_generic_graph_equals_the_keras1_equations(name, model,
                                                   shipped_melgrams,
                                                   keras1_scores):
    """float32 on Chainer's functions against the float64 reference: the
    CPU kernels reach 1e-5 (tests/models/test_keras1_reference.py); the
    generic graph's float32 sums in the mode-2 models' batch statistics
    add a little."""
    tagger = model(name)
    scores, _ = generic_predict(tagger, shipped_melgrams)
    want, _ = keras1_scores(name)
    np.testing.assert_allclose(scores, want, rtol=0, atol=1e-4)


def soundnet_scenes_reference(net, x):
    """SoundNet-8's scene logits at inference with Chainer's standard
    functions called directly: N-d convolution (not the package's 2-D
    form), fixed batch normalization, ReLU, N-d max pooling."""
    h = F.expand_dims(x, 1) * SOUNDNET_INPUT_SCALE
    for layer in SOUNDNET_LAYERS:
        conv, bn = net[layer.name], net['bn' + layer.name[4:]]
        h = F.convolution_nd(h, conv.W, conv.b, stride=layer.stride,
                             pad=layer.pad)
        h = F.relu(F.fixed_batch_normalization(
            h, bn.gamma, bn.beta, bn.avg_mean, bn.avg_var, eps=bn.eps))
        if layer.pool:
            h = F.max_pooling_nd(h, layer.pool, layer.pool, cover_all=False)
    return F.convolution_nd(h, net.conv8_2.W, net.conv8_2.b, stride=2)


def test_generic_soundnet_equals_chainers_functions():
    """(The CPU kernels too, against the same reference.)"""
    from chainer_tagger.models import SoundNet8
    net = SoundNet8(pretrained_model='soundnet8')
    x = np.random.RandomState(0).uniform(-0.3, 0.3, (2, 330000)).astype(
        np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        want = soundnet_scenes_reference(net, x).array
        with generic_kernels(), FunctionsRun() as hook:
            generic = net.scenes(x).array
        fast = net.scenes(x).array  # the CPU kernels, for comparison
    hook.assert_standard('ReLU', 'MaxPoolingND')
    # conv1..conv7 and the scene head, each a 2-D convolution (cuDNN).
    assert hook.count('Convolution2DFunction') == len(SOUNDNET_LAYERS) + 1
    for got in (generic, fast):
        np.testing.assert_allclose(got, want, rtol=1e-4,
                                   atol=1e-4 * np.abs(want).max())
