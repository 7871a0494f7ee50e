"""The model zoo: one module per architecture, and :func:`load_model`.

A model declares what it is, and code asks that instead of looking for
attribute names: ``clip_input`` (a
:class:`~chainer_tagger.configuration.ClipInput`: melgram or waveform, rate,
window length), ``tags`` (class names; None for a model without a
classifier, such as SoundNet), ``exclusive_classes`` (softmax over classes
rather than independent sigmoid tags), ``feature_size``, ``predict`` and
``extract`` on a batch of inputs, and ``arch``/``settings`` for its model
file.
"""
from chainer_tagger.models.loading import (  # NOQA
    ARCHITECTURES, convert_weights, load_model)
from chainer_tagger.models.linear_probe import LinearProbe  # NOQA
from chainer_tagger.models.music2vec import Music2Vec  # NOQA
from chainer_tagger.models.music_tagger_cnn import MusicTaggerCNN  # NOQA
from chainer_tagger.models.music_tagger_crnn import MusicTaggerCRNN  # NOQA
from chainer_tagger.models.soundnet import SoundNet8  # NOQA
