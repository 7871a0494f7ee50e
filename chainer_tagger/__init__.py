"""chainer-tagger: music auto-tagging and genre classification in Chainer.

Faithful ports of Keunwoo Choi's Keras-1 taggers (MusicTaggerCRNN,
MusicTaggerCNN and their early mode-2 versions, and the GTZAN CRNN
fine-tuned from them) running from the published Keras weights.

>>> import chainer_tagger
>>> results = chainer_tagger.tag('song.mp3', model='crnn-msd')  # doctest: +SKIP
>>> results[0]['tags'][:3]                                       # doctest: +SKIP
"""
from chainer_tagger.links.model import MusicTaggerCNN, MusicTaggerCRNN  # NOQA
from chainer_tagger.features import melgram  # NOQA
from chainer_tagger.pretrained import load_model  # NOQA
from chainer_tagger.tagging import tag  # NOQA

__version__ = '0.1.0'
