"""Every Keras tagger of the registry against an independent float64 NumPy
forward pass of the Keras-1 equations (``tests/keras1_reference.py``: h5py,
NumPy, no package code), on the four shipped melgrams as one batch, from
the Theano and the TensorFlow files and the first releases (``v1/``: conv
blocks nested in a container, auto-generated layer names, which the
reference reads on its own)."""
import numpy as np
import pytest

import keras1_reference
from chainer_tagger.configuration import GTZAN_GENRES, MSD_TAGS
from chainer_tagger.models import convert_weights, load_model

from conftest import KERAS_WEIGHTS, SONGS

pytestmark = pytest.mark.shared

FILES = keras1_reference.FILES
MODELS = sorted({name for name, _, _, _ in FILES.values()})


def test_reference_reads_both_backends_alike():
    """With the Theano kernels flipped, both files of a model hold the same
    numbers, so one reference pass per model is the reference of both
    files; unflipped, the kernels differ."""
    params = {}
    for filename, (name, backend, _, _) in FILES.items():
        params.setdefault(name, {})[backend] = keras1_reference.load(
            KERAS_WEIGHTS / filename, backend)
    pairs = [p for p in params.values() if len(p) == 2]
    assert len(pairs) == 4
    for p in pairs:
        theano, tensorflow = p['theano'], p['tensorflow']
        assert theano.keys() == tensorflow.keys()
        for layer, weights in theano.items():
            for key, value in weights.items():
                np.testing.assert_array_equal(value, tensorflow[layer][key])
    raw = keras1_reference.read_weights(
        KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5')['conv1'][0]
    flipped = params['crnn-msd']['theano']['conv1']['W']
    assert np.abs(raw - flipped).max() > 1


def test_reference_reproduces_the_published_crnn_scores(keras1_scores,
                                                        reference):
    """The reference itself, checked against Choi's published table: all
    40 scores to the printed 3 decimals."""
    scores, _ = keras1_scores('crnn-msd')
    for i, song in enumerate(SONGS):
        for tag, published in reference['songs'][song]:
            assert round(scores[i, MSD_TAGS.index(tag)], 3) == published


@pytest.mark.parametrize('name', MODELS)
def test_reference_tags_are_plausible(name, keras1_scores):
    """The jazz piano song is jazz for every model, and no song's scores
    are all near 0 (reading cnn-msd's BN with Keras 1.1 semantics gives
    three songs top scores below 5e-4)."""
    scores, _ = keras1_scores(name)
    tags = GTZAN_GENRES if name == 'crnn-gtzan' else MSD_TAGS
    assert tags[scores[SONGS.index('bensound-thejazzpiano')].argmax()] == \
        'jazz'
    assert scores.max(axis=1).min() > 0.01


@pytest.mark.parametrize('filename', sorted(FILES))
def test_package_matches_the_keras1_equations(filename, tmp_path,
                                              keras1_scores,
                                              shipped_melgrams):
    """The package's scores, converted from each file and run on the four
    melgrams as one batch (as the originals ran: the mode-2 models depend
    on it), equal the reference's to 1e-5; so do the features (the layer
    before the classifier), checked once per model."""
    name, backend, _, _ = FILES[filename]
    meta = convert_weights(KERAS_WEIGHTS / filename, tmp_path / 'm.npz')
    assert (meta['name'], meta['source']['backend']) == (name, backend)
    model = load_model(tmp_path / 'm.npz')
    want_scores, want_features = keras1_scores(name)
    assert np.abs(model.predict(shipped_melgrams) - want_scores).max() \
        <= 1e-5
    if backend == 'theano':
        features = model.extract(shipped_melgrams)
        assert np.abs(features - want_features).max() <= 1e-5
