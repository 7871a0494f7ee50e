"""The early models against every table Choi published for them, each with
the Keras release (``keras=``) and the MP3 decoding (``decoder_delay=``)
that produced it, the four songs in one batch as his example scripts ran.

The values are copied from keunwoochoi/music-auto_tagging-keras README.md
at the commit named with each table (T1 in full; of the 3-decimal tables,
the three best tags of each song).  The crnn-msd table (T5) is
``../shared/reference`` (tests/models/test_published_scores.py).
"""
import json

import numpy as np
import pytest

import chainer_tagger
from chainer_tagger.cli import main
from chainer_tagger.configuration import MSD_TAGS
from chainer_tagger.models import load_model

from conftest import AUDIO, SONGS

pytestmark = pytest.mark.shared

#: T1: README.md @4a34160f4ac54d84624cfd3b06c7ed075eed0d8c (2016-08-06),
#: `python example.py` of bffb6257b038117f2c80b91222ec7ecda43cbb11 with
#: data/weights_best.hdf5 (= cnn0-msd-v1), printed as Python floats from
#: the melgrams that run saved (= the shipped *.melgram.npy).
T1 = {
    'bensound-cute': [
        ('jazz', 0.32834091782569885), ('folk', 0.17664788663387299),
        ('instrumental', 0.1569863110780716), ('guitar', 0.10749899595975876),
        ('acoustic', 0.08458312600851059),
        ('female vocalists', 0.06621211022138596),
        ('indie', 0.0627480000257492), ('chillout', 0.05570304021239281),
        ('rock', 0.04766707867383957), ('pop', 0.04348916560411453)],
    'bensound-actionable': [
        ('rock', 0.4575064182281494), ('classic rock', 0.3454620838165283),
        ('punk', 0.23092204332351685), ('60s', 0.11653172969818115),
        ('70s', 0.11155932396650314), ('hard rock', 0.10467251390218735),
        ('indie', 0.1011115238070488), ('80s', 0.09881759434938431),
        ('alternative', 0.0769491195678711),
        ('Progressive rock', 0.0754147469997406)],
    'bensound-dubstep': [
        ('Hip-Hop', 0.1726689487695694), ('rock', 0.10726829618215561),
        ('electronic', 0.10054843127727509),
        ('female vocalists', 0.07955039292573929),
        ('pop', 0.07343248277902603), ('alternative', 0.05530229210853577),
        ('indie', 0.04597167670726776), ('rnb', 0.04486352205276489),
        ('80s', 0.031885139644145966), ('90s', 0.02957077883183956)],
    'bensound-thejazzpiano': [
        ('jazz', 0.9577991366386414), ('instrumental', 0.11406592279672623),
        ('guitar', 0.03199296444654465), ('rock', 0.024645458906888962),
        ('blues', 0.02134867012500763), ('chillout', 0.013597516342997551),
        ('easy listening', 0.013440641574561596),
        ('folk', 0.013292261399328709), ('oldies', 0.011634128168225288),
        ('country', 0.011065035127103329)],
}

#: The three best tags per song (cute, actionable, dubstep, thejazzpiano)
#: of the 3-decimal tables: (model, keras preset, decoder delay) -> table.
TABLES = {
    # T2: README @a1075a85a074ee7c4034094641463c0130356116, "Using Theano
    # backend", the first released weights, melgrams from the mp3s.
    ('cnn0-msd-v1', '1.0.6-theano', 'keep'): [
        [('jazz', .393), ('instrumental', .183), ('folk', .143)],
        [('rock', .473), ('classic rock', .381), ('punk', .198)],
        [('Hip-Hop', .139), ('rock', .111), ('electronic', .089)],
        [('jazz', .964), ('instrumental', .128), ('guitar', .040)]],
    ('rnn0-msd-v1', '1.0.6-theano', 'keep'): [
        [('jazz', .166), ('indie', .136), ('ambient', .124)],
        [('rock', .395), ('classic rock', .208), ('hard rock', .114)],
        [('dance', .400), ('electronic', .311), ('pop', .189)],
        [('jazz', .632), ('blues', .092), ('instrumental', .073)]],
    # T3: README @7b4a6f75e35dfe88a4c31a800e91029e6e020aec, "backend:
    # tensorflow": the same std-valued weights read as variances.
    ('cnn0-msd', '1.0.6-tensorflow', 'remove'): [
        [('folk', .222), ('pop', .166), ('jazz', .160)],
        [('rock', .592), ('classic rock', .245), ('pop', .119)],
        [('electronic', .313), ('Hip-Hop', .160), ('electro', .116)],
        [('jazz', .799), ('instrumental', .420), ('guitar', .042)]],
    ('rnn0-msd', '1.0.6-tensorflow', 'remove'): [
        [('jazz', .167), ('female vocalists', .165), ('folk', .145)],
        [('rock', .480), ('classic rock', .389), ('hard rock', .216)],
        [('electronic', .513), ('electro', .222), ('dance', .166)],
        [('jazz', .915), ('instrumental', .043), ('female vocalists', .018)]],
    # T4: README @ba41c2661a8db0e67043cea5f9df9a8f4b32c7ed, "Using Theano
    # backend", the shared cnn/rnn_weights_theano.h5, from the mp3s.
    ('cnn0-msd', '1.0.6-theano', 'keep'): [
        [('folk', .205), ('jazz', .173), ('pop', .153)],
        [('rock', .589), ('classic rock', .309), ('blues', .108)],
        [('electronic', .262), ('Hip-Hop', .141), ('rock', .111)],
        [('jazz', .767), ('instrumental', .439), ('guitar', .037)]],
    ('rnn0-msd', '1.0.6-theano', 'keep'): [
        [('jazz', .238), ('folk', .179), ('female vocalists', .154)],
        [('rock', .474), ('classic rock', .388), ('hard rock', .243)],
        [('electronic', .572), ('electro', .230), ('electronica', .166)],
        [('jazz', .922), ('instrumental', .039), ('female vocalists', .018)]],
}


def t1_max_diff(scores):
    return max(abs(scores[i, MSD_TAGS.index(tag)] - value)
               for i, song in enumerate(SONGS) for tag, value in T1[song])


def test_first_release_reproduces_its_8_digit_table(shipped_melgrams):
    """cnn0-msd-v1 (nested-container file, Keras 1.0.6 Theano), one batch
    of the shipped melgrams, float32: every printed value to 2e-7."""
    scores = load_model('cnn0-msd-v1').predict(shipped_melgrams)
    assert t1_max_diff(scores) < 3e-7
    for i, song in enumerate(SONGS):
        best = [MSD_TAGS[j] for j in np.argsort(-scores[i])[:10]]
        assert best == [tag for tag, _ in T1[song]]


def test_float64_reference_run_reproduces_the_8_digit_table(capsys):
    paths = [str(AUDIO / (s + '.melgram.npy')) for s in SONGS]
    assert main(['tag', '--model', 'cnn0-msd-v1', '--precision', 'float64',
                 '--format', 'json', '--no-progress'] + paths) == 0
    out = json.loads(capsys.readouterr().out)
    scores = np.array([[{t['tag']: t['score'] for t in r['tags']}[tag]
                        for tag in MSD_TAGS] for r in out])
    assert t1_max_diff(scores) < 2e-7


@pytest.fixture(scope='module')
def kept_delay_melgrams():
    """Melgrams of the mp3s with the decoder delay kept, one batch."""
    return np.stack([chainer_tagger.melgram(AUDIO / (s + '.mp3'),
                                            decoder_delay='keep')
                     for s in SONGS])


@pytest.mark.parametrize('model,keras,delay', sorted(TABLES))
def test_each_table_with_its_keras_release_and_decoding(
        model, keras, delay, kept_delay_melgrams, shipped_melgrams):
    melgrams = kept_delay_melgrams if delay == 'keep' else shipped_melgrams
    scores = load_model(model, keras=keras).predict(melgrams)
    for i, rows in enumerate(TABLES[model, keras, delay]):
        best = [MSD_TAGS[j] for j in np.argsort(-scores[i])[:3]]
        assert best == [tag for tag, _ in rows], (model, SONGS[i])
        for tag, value in rows:
            # The printed digit (TensorFlow's float32 sums leave one T3
            # value 3e-7 past the rounding boundary).
            assert abs(scores[i, MSD_TAGS.index(tag)] - value) < 5.01e-4


def test_tables_need_their_decoding_and_their_keras_release(
        kept_delay_melgrams, shipped_melgrams):
    """The other decoding, or the other backend's reading of the same
    file, misses the printed digits by far."""
    rows = TABLES['cnn0-msd', '1.0.6-theano', 'keep']

    def worst(scores):
        return max(abs(scores[i, MSD_TAGS.index(tag)] - value)
                   for i, song in enumerate(rows) for tag, value in song)
    assert worst(load_model('cnn0-msd').predict(shipped_melgrams)) > 0.01
    assert worst(load_model('cnn0-msd', keras='1.0.6-tensorflow').predict(
        kept_delay_melgrams)) > 0.01
