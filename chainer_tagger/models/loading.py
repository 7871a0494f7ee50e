"""Building a model of the zoo from a registry name or a model file."""
import os

from chainer_tagger.models.music2vec import Music2Vec
from chainer_tagger.models.music_tagger_cnn import MusicTaggerCNN
from chainer_tagger.models.music_tagger_crnn import MusicTaggerCRNN
from chainer_tagger.models.soundnet import SoundNet8
from chainer_tagger.pretrained import registry

#: Architecture names used in model files and the registry.
ARCHITECTURES = {'crnn': MusicTaggerCRNN, 'cnn': MusicTaggerCNN,
                 'soundnet': SoundNet8, 'music2vec': Music2Vec}


def load_model(model, **overrides):
    """Build and load a model from a registry name or a model file.

    Parameters
    ----------
    model : str or path-like
        ``'crnn-msd'``, ``'crnn-gtzan'``, ``'cnn-msd'``, ``'cnn0-msd'``,
        ``'rnn0-msd'``, ``'soundnet8'``, or a path to a converted or trained
        ``.npz`` or a Keras ``.h5``.
    overrides
        Settings that do not change the weights, such as ``per_clip=True``.
    """
    path, meta = registry.prepare(model, ARCHITECTURES)
    cls = ARCHITECTURES[meta['arch']]
    link = cls(**dict(meta['settings'], **overrides))
    registry.load_weights(path, link)
    link.model_name = meta.get('name') or os.fspath(model)
    return link


def convert_weights(src, dst, **options):
    """Convert an upstream weight file (Keras-1 ``.h5`` of Choi's taggers,
    or SoundNet's ``sound8.npy``) into a chainer-tagger ``.npz``; see
    :func:`chainer_tagger.pretrained.registry.convert` for the options."""
    return registry.convert(src, dst, ARCHITECTURES, **options)
