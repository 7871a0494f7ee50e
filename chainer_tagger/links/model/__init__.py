"""The model zoo: one module per architecture."""
from chainer_tagger.links.model.music_tagger_cnn import MusicTaggerCNN  # NOQA
from chainer_tagger.links.model.music_tagger_crnn import (  # NOQA
    MusicTaggerCRNN)

#: Architecture names used in model files and the registry.
ARCHITECTURES = {'crnn': MusicTaggerCRNN, 'cnn': MusicTaggerCNN}
