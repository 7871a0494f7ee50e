"""The models against the original Keras models' published outputs."""
import json

import numpy as np
import pytest

from chainer_tagger.cli import main

from conftest import AUDIO, KERAS_WEIGHTS, SONGS

pytestmark = pytest.mark.shared


def test_cli_reproduces_published_crnn_scores(capsys, reference):
    """`chainer-tagger tag --model crnn-msd --format json *.melgram.npy`
    gives every published score to the printed 3 decimals, in order."""
    paths = [str(AUDIO / (s + '.melgram.npy')) for s in SONGS]
    assert main(['tag', '--model', 'crnn-msd', '--format', 'json',
                 '--no-progress'] + paths) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r['path'] for r in out] == paths
    for song, result in zip(SONGS, out):
        published = reference['songs'][song]
        scores = {t['tag']: t['score'] for t in result['tags']}
        assert len(scores) == 50
        for tag, score in published:
            assert abs(scores[tag] - score) <= 0.0005, (song, tag)
            assert round(scores[tag], 3) == score, (song, tag)
        assert [t['tag'] for t in result['tags'][:10]] == \
            [t for t, _ in published]


def test_both_files_are_one_function_under_another_preset(
        tmp_path, shipped_melgrams):
    """The Theano and TensorFlow files of a model stay one function under
    a Keras preset other than their default (the kernel orientation is read
    off the file, the BN reading off the preset)."""
    from chainer_tagger.models import convert_weights, load_model
    scores = []
    for backend in ('theano', 'tensorflow'):
        dst = tmp_path / (backend + '.npz')
        convert_weights(KERAS_WEIGHTS / 'cnn_weights_{}.h5'.format(backend),
                        dst)
        scores.append(load_model(dst, keras='1.0.6-tensorflow').predict(
            shipped_melgrams))
    assert np.abs(scores[0] - scores[1]).max() <= 1e-5
    default = load_model(tmp_path / 'theano.npz').predict(shipped_melgrams)
    assert np.abs(scores[0] - default).max() > 0.01


def test_keras_1_0_6_backends_differ_exactly_by_the_bn_reading(
        shipped_melgrams):
    """Keras 1.0.6 read one file two ways: Theano divided by the stored
    std + eps, TensorFlow by sqrt(stored + eps) (and in mode 2 Theano's
    eps entered twice).  Everything else is the same: giving the Theano
    reading the std that TensorFlow's reading implies gives TensorFlow's
    scores."""
    from chainer_tagger.models import load_model
    theano = load_model('cnn0-msd', keras='1.0.6-theano')
    tf = load_model('cnn0-msd', keras='1.0.6-tensorflow')
    for (name, a), (_, b) in zip(sorted(theano.namedparams()),
                                 sorted(tf.namedparams())):
        np.testing.assert_array_equal(a.array, b.array, err_msg=name)
    bn, eps = theano.bn_0_freq, 1e-6
    s, gamma = bn.running_std.copy(), bn.gamma.array
    np.testing.assert_allclose(bn.inference_affine()[0], gamma / (s + eps))
    np.testing.assert_allclose(tf.bn_0_freq.inference_affine()[0],
                               gamma / np.sqrt(s + eps))
    want = tf.predict(shipped_melgrams)
    assert np.abs(theano.predict(shipped_melgrams) - want).max() > 0.01
    bn.running_std[...] = np.sqrt(s + eps) - eps
    np.testing.assert_allclose(theano.predict(shipped_melgrams), want,
                               atol=1e-6)


def test_flipping_matters(tmp_path, shipped_melgrams):
    """Reading Theano kernels without the flip changes the scores a lot, so
    the comparison above really checks the kernel orientation."""
    from chainer_tagger.pretrained.keras_h5 import (assign_keras_weights,
                                                    read_keras_h5)
    from chainer_tagger.models import MusicTaggerCRNN
    layers, _ = read_keras_h5(
        KERAS_WEIGHTS / 'music_tagger_crnn_weights_theano.h5')
    right = assign_keras_weights(MusicTaggerCRNN(), layers, 'theano')
    wrong = assign_keras_weights(MusicTaggerCRNN(), layers, 'tensorflow')
    diff = right.predict(shipped_melgrams) - wrong.predict(shipped_melgrams)
    assert np.abs(diff).max() > 0.05


def test_gtzan_crnn_genres_of_the_jazz_and_rock_songs(model,
                                                      shipped_melgrams):
    m = model('crnn-gtzan')
    assert m.tags[5] == 'jazz' and len(m.tags) == 10
    scores = m.predict(shipped_melgrams)
    top = [m.tags[i] for i in scores.argmax(axis=1)]
    assert top[SONGS.index('bensound-thejazzpiano')] == 'jazz'
    assert top[SONGS.index('bensound-actionable')] == 'rock'


def test_features_are_the_layer_before_the_classifier(model,
                                                      shipped_melgrams):
    crnn, cnn = model('crnn-msd'), model('cnn-msd')
    f = crnn.extract(shipped_melgrams)
    assert f.shape == (4, 32)
    logits = f @ crnn.output.W.array.T + crnn.output.b.array
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)),
                               crnn.predict(shipped_melgrams), atol=1e-6)
    assert cnn.extract(shipped_melgrams).shape == (4, 256)


def test_mode2_model_depends_on_its_batch_unless_per_clip(
        shipped_melgrams):
    from chainer_tagger.models import load_model
    batch = load_model('cnn0-msd')
    together = batch.predict(shipped_melgrams)
    alone = batch.predict(shipped_melgrams, batch_size=1)
    assert np.abs(together - alone).max() > 0.01
    per_clip = load_model('cnn0-msd', per_clip=True)
    np.testing.assert_allclose(per_clip.predict(shipped_melgrams),
                               per_clip.predict(shipped_melgrams,
                                                batch_size=1), atol=1e-6)
    np.testing.assert_allclose(per_clip.predict(shipped_melgrams),
                               alone, atol=1e-6)
