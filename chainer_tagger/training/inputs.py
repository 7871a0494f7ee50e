"""How a model's clips are fed to it in training and evaluation.

A clip is turned once into a *feature* (cached on disk by
:class:`~chainer_tagger.datasets.GTZAN`), and each time it is used the
feature is *transformed* into the model's input.
"""
import collections
import threading

import numpy as np

import chainer

from chainer_tagger.audio import load_audio, read_input
from chainer_tagger.audio.windows import fit_to_window

#: ``kind`` names the cached feature (part of its cache key);
#: ``feature(path)`` computes it; ``transform(feature)`` gives the model's
#: input (None: the feature is the input).
ClipPipeline = collections.namedtuple('ClipPipeline',
                                      'kind feature transform')


def clip_pipeline(model):
    """The :class:`ClipPipeline` for a model, by its ``clip_input``.

    Melgram models: Choi's centre melgram, cached, with a channel axis
    added.  Raw-audio models: the decoded clip at the model's rate, cached
    whole, centre-cropped or zero-padded to the model's input length.
    """
    spec = model.clip_input
    if spec.kind == 'melgram':
        return ClipPipeline('choi-melgram', read_input, _add_channel_axis)

    def decode(path):
        return load_audio(path, sr=spec.sample_rate)[0]

    def fit(y):
        return fit_to_window(y, spec.n_samples).astype(np.float32)
    return ClipPipeline('waveform{}'.format(spec.sample_rate), decode, fit)


def _add_channel_axis(x):
    return x[None]


def frozen_soundnet_pipeline(model):
    """The pipeline of a music2vec whose SoundNet is frozen: SoundNet's
    scene output, computed once per clip and cached.

    A frozen SoundNet (inference-mode BN, fixed weights) gives each clip
    the same output every epoch, so it is computed once and cached like a
    decoded waveform; training then runs only the LSTMs and dense layers
    (the model's ``head``).
    """
    waveform = clip_pipeline(model)
    lock = threading.Lock()

    def feature(path):
        x = waveform.transform(waveform.feature(path))[None]
        with lock, chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            h = model.soundnet.scenes(model.device.send(x))
        return chainer.backends.cuda.to_cpu(h.array[0])
    return ClipPipeline('soundnet8-scenes', feature, None)


class Logits(chainer.Chain):
    """A model's pre-softmax scores, for :class:`chainer.links.Classifier`.

    ``method`` is ``'logits'`` (raw inputs) or ``'head'`` (music2vec fed
    with cached SoundNet outputs).
    """

    def __init__(self, model, method='logits'):
        super().__init__()
        self.method = method
        with self.init_scope():
            self.model = model

    def forward(self, x):
        return getattr(self.model, self.method)(x)
