"""The architectures that hold their own weights, by the name model files
use (``_meta['arch']``)."""
from chainer_tagger.models.music2vec import Music2Vec
from chainer_tagger.models.music_tagger_cnn import MusicTaggerCNN
from chainer_tagger.models.music_tagger_crnn import MusicTaggerCRNN
from chainer_tagger.models.soundnet import SoundNet8

#: Models a :class:`~chainer_tagger.models.LinearProbe` can take its
#: features from (every architecture but the probe itself).
FEATURE_ARCHITECTURES = {'crnn': MusicTaggerCRNN, 'cnn': MusicTaggerCNN,
                         'soundnet': SoundNet8, 'music2vec': Music2Vec}
