"""The model zoo: one module per architecture."""
from chainer_tagger.links.model.music2vec import Music2Vec  # NOQA
from chainer_tagger.links.model.music_tagger_cnn import MusicTaggerCNN  # NOQA
from chainer_tagger.links.model.music_tagger_crnn import (  # NOQA
    MusicTaggerCRNN)
from chainer_tagger.links.model.soundnet import SoundNet8  # NOQA

#: Architecture names used in model files and the registry.
ARCHITECTURES = {'crnn': MusicTaggerCRNN, 'cnn': MusicTaggerCNN,
                 'soundnet': SoundNet8, 'music2vec': Music2Vec}
