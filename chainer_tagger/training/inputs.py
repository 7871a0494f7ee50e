"""How a model's clips are fed to it in training and evaluation.

A clip is decoded once at the model's rate and cached on disk by
:class:`~chainer_tagger.datasets.GTZAN`.  A model sees *windows* of it, as
long as its input (29.12 s for the melgram taggers, 30.6 s for music2vec):

* in training, one random window per clip and epoch (a random crop of a
  long clip, a random rotation of a looped short one), so the model sees
  other audio every epoch;
* in evaluation, ``count`` windows spread evenly over the clip, whose
  class probabilities are averaged (:func:`spread_starts`).

With a frozen body (:class:`FrozenBodyOutputs`) the body's output of each
evaluation window is computed once and cached instead of the audio, and
training draws one of those windows at random each epoch.  A recipe with
training gains (music2vec's) caches each window also played at those
levels, and training draws among them all; evaluation takes the windows
as they are.
"""
import collections
import hashlib
import threading
import zlib

import numpy as np

import chainer

from chainer_tagger.audio import load_audio, window_input
from chainer_tagger.audio.windows import random_start, spread_starts
from chainer_tagger.models.batching import run_in_batches

#: ``kind`` names the cached feature (part of its cache key);
#: ``feature(path)`` computes it.
ClipPipeline = collections.namedtuple('ClipPipeline', 'kind feature')


def decoded_clips(clip_input):
    """The :class:`ClipPipeline` of decoded clips at a model's rate."""
    def decode(path):
        return load_audio(path, sr=clip_input.sample_rate)[0]
    return ClipPipeline('waveform{}'.format(clip_input.sample_rate), decode)


def model_input(y, start, clip_input):
    """The model input of the window of ``y`` at ``start`` as a model's
    ``logits`` takes it in a batch: Choi's melgram ``(1, 96, 1366)`` (with
    its channel axis) or the waveform, float32."""
    x = window_input(y, start, clip_input)
    return x[None] if clip_input.kind == 'melgram' else x


def evaluation_inputs(y, clip_input, count):
    """The model inputs of a clip's evaluation windows, stacked."""
    return np.stack([model_input(y, s, clip_input) for s in spread_starts(
        len(y), clip_input.n_samples, count, clip_input.fill)])


def gained(y, gain_db):
    """``y`` played ``gain_db`` dB louder (quieter when negative), float32;
    no clipping: what SoundNet takes is not bounded to [-1, 1]."""
    if not gain_db:
        return y
    return (np.asarray(y, np.float32) *
            np.float32(10 ** (gain_db / 20.0))).astype(np.float32)


def window_seed(seed, epoch, clip):
    """The seed of a clip's random window in an epoch: a function of the
    run's seed, the epoch and the clip only, so that a resumed run draws
    the same windows as an uninterrupted one."""
    key = np.array([seed, epoch, clip], np.int64).tobytes()
    return zlib.crc32(key) & 0xffffffff


def links_digest(links):
    """A short hash of the parameters and persistent arrays of ``links``
    (part of the cache key of their outputs)."""
    digest = hashlib.sha1()
    for link in links:
        serializer = chainer.serializers.DictionarySerializer()
        serializer.save(link)
        for name in sorted(serializer.target):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(chainer.backends.cuda.to_cpu(
                serializer.target[name])).tobytes())
    return digest.hexdigest()[:12]


class FrozenBodyOutputs:
    """The :class:`ClipPipeline` of a frozen function's outputs on each
    evaluation window of a clip (``(windows, ...)`` per clip).

    Parameters
    ----------
    model : chainer.Link
        A model whose ``body`` is frozen; the parameters of its
        ``body_links()`` are part of the cache key.
    clip_input : ClipInput
        The windows the function takes.
    count : int
        Evaluation windows per clip.
    name : str
        Part of the cache key.
    gains_db : sequence of float
        Levels (dB) at which each window is also played: a clip's feature
        is then ``(count * (1 + len(gains_db)), ...)``, the windows as
        they are first, then ``count`` per gain.
    """

    def __init__(self, model, clip_input, count, name, gains_db=()):
        self.model = model
        self.clip_input, self.count = clip_input, count
        self.gains_db = [float(g) for g in gains_db]
        self.kind = '{}-{}-{}-{}x{}'.format(
            name, links_digest(model.body_links()), clip_input.fill, count,
            clip_input.n_samples)
        if self.gains_db:
            self.kind += '-gains' + '_'.join(
                '{:+g}'.format(g) for g in self.gains_db)
        self._decode = decoded_clips(clip_input).feature
        self._lock = threading.Lock()

    def feature(self, path):
        y = self._decode(path)
        x = np.concatenate([
            evaluation_inputs(gained(y, g), self.clip_input, self.count)
            for g in [0.0] + self.gains_db])
        with self._lock:  # a clip's windows at one level at a time
            return run_in_batches(self.model, self.model.body, x,
                                  self.count)

    @property
    def pipeline(self):
        return ClipPipeline(self.kind, self.feature)


class TrainingWindows(chainer.dataset.DatasetMixin):
    """``(input, label)`` of clips ``indices``, one random window each time
    a clip is drawn.

    ``frozen``: the cached feature holds the body outputs of the clip's
    evaluation windows (at each training gain too, see
    :class:`FrozenBodyOutputs`) and one of them is drawn; otherwise the
    feature is the decoded clip and a random window of it
    (:func:`random_start`) becomes the model input, played at a level
    drawn from 0 dB and ``gains_db``.  The draw depends on the seed, the
    epoch of ``iterator`` (set once the iterator exists) and the clip.
    """

    def __init__(self, gtzan, indices, clip_input, seed, frozen,
                 gains_db=()):
        self.gtzan, self.indices = gtzan, np.asarray(indices)
        self.clip_input, self.seed, self.frozen = clip_input, seed, frozen
        self.gains_db = [float(g) for g in gains_db]
        self.iterator = None

    def __len__(self):
        return len(self.indices)

    def get_example(self, i):
        j = int(self.indices[i])
        epoch = self.iterator.epoch if self.iterator is not None else 0
        rng = np.random.RandomState(window_seed(self.seed, epoch, j))
        feature = self.gtzan.feature(j)
        if self.frozen:
            x = np.array(feature[rng.randint(len(feature))])
        else:
            y = np.asarray(feature)
            start = random_start(len(y), self.clip_input.n_samples,
                                 self.clip_input.fill, rng)
            if self.gains_db:
                y = gained(y, ([0.0] + self.gains_db)[
                    rng.randint(1 + len(self.gains_db))])
            x = model_input(y, start, self.clip_input)
        return x, self.gtzan.labels[j]


class EvaluationWindows:
    """The evaluation windows of clips ``indices``, clip by clip (a
    sequence of ``(windows, ...)`` arrays, read when indexed).

    ``frozen``: the cached body outputs; otherwise the model inputs of
    the decoded clip's windows (:func:`evaluation_inputs`).
    """

    def __init__(self, gtzan, indices, clip_input, count, frozen):
        self.gtzan, self.indices = gtzan, np.asarray(indices)
        self.clip_input, self.count, self.frozen = clip_input, count, frozen

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        feature = self.gtzan.feature(int(self.indices[i]))
        if self.frozen:  # the windows as they are, not at training gains
            return np.array(feature[:self.count])
        return evaluation_inputs(np.asarray(feature), self.clip_input,
                                 self.count)


class Logits(chainer.Chain):
    """What a model's training loss takes, for
    :class:`chainer.links.Classifier`: the model's ``training_logits`` or
    ``training_head`` (see :class:`~chainer_tagger.models.class_scores.
    ClassScores`), so that an ensemble trains each member on its own.

    ``method`` is ``'logits'`` (model inputs) or ``'head'`` (the cached
    outputs of a frozen body).
    """

    def __init__(self, model, method='logits'):
        super().__init__()
        self.method = method
        with self.init_scope():
            self.model = model

    def forward(self, x):
        return getattr(self.model, 'training_' + self.method)(x)
