"""chainer-tagger: music auto-tagging and genre classification in Chainer.

Faithful ports of Keunwoo Choi's Keras-1 taggers (MusicTaggerCRNN,
MusicTaggerCNN and their early mode-2 versions, and the GTZAN CRNN
fine-tuned from them) running from the published Keras weights, and
music2vec (SoundNet-8 with two LSTMs) for genre classification.

The data flows one way, and so do the packages: ``audio`` (files to model
inputs) -> ``models`` (built from ``links`` and ``functions``, weights from
``pretrained``) -> ``inference`` (scores, reports) and ``training``.

>>> import chainer_tagger
>>> results = chainer_tagger.tag('song.mp3')  # doctest: +SKIP
>>> results[0]['tags'][:3]                    # doctest: +SKIP
"""
from chainer_tagger import cuda_libraries

cuda_libraries.preload()  # before anything imports CuPy (see the module)

from chainer_tagger.audio import melgram  # noqa: E402
from chainer_tagger.errors import ChainerTaggerError  # noqa: E402
from chainer_tagger.inference import tag, tag_library  # noqa: E402
from chainer_tagger.models import (  # noqa: E402
    Music2Vec, MusicTaggerCNN, MusicTaggerCRNN, SoundNet8, load_model)

__all__ = ['ChainerTaggerError', 'Music2Vec', 'MusicTaggerCNN',
           'MusicTaggerCRNN', 'SoundNet8', 'load_model', 'melgram', 'tag',
           'tag_library']
__version__ = '0.1.0'
