"""The graph a GPU runs: every model with this package's CPU kernels
switched off (Chainer's standard functions, as on a GPU with cuDNN) gives
the published scores and the CPU kernels' scores."""
import numpy as np
import pytest

from chainer_tagger.functions import generic_kernels

pytestmark = pytest.mark.shared

TAGGERS = ('crnn-msd', 'crnn-gtzan', 'cnn-msd', 'cnn0-msd', 'rnn0-msd')


def test_published_crnn_scores_on_the_generic_graph(model, reference,
                                                    shipped_melgrams):
    from conftest import SONGS
    crnn = model('crnn-msd')
    with generic_kernels():
        scores = crnn.predict(shipped_melgrams)
    for song, s in zip(SONGS, scores):
        for tag, published in reference['songs'][song]:
            assert round(float(s[crnn.tags.index(tag)]), 3) == published


@pytest.mark.parametrize('name', TAGGERS)
def test_generic_graph_equals_cpu_kernels(name, model, shipped_melgrams):
    tagger = model(name)
    fast = tagger.predict(shipped_melgrams)
    with generic_kernels():
        generic = tagger.predict(shipped_melgrams)
    # float32 summation order differs; the mode-2 models (batch statistics
    # at test time) amplify it most.
    np.testing.assert_allclose(generic, fast, atol=1e-4)


def test_generic_soundnet_equals_cpu_kernels(model):
    from chainer_tagger.models import SoundNet8
    net = SoundNet8(pretrained_model='soundnet8')
    x = np.random.RandomState(0).uniform(-0.3, 0.3, (2, 120000)).astype(
        np.float32)
    fast = net.extract(x)
    with generic_kernels():
        generic = net.extract(x)
    np.testing.assert_allclose(generic, fast, rtol=1e-4,
                               atol=1e-4 * np.abs(fast).max())
