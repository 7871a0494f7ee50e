"""music2vec: SoundNet, two stacked LSTMs and a dense head, on raw audio."""
import math

import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.configuration import (
    GTZAN_GENRES, MAX_MUSIC2VEC_HEADS, MUSIC2VEC_DENSE, MUSIC2VEC_LSTM_UNITS,
    N_SCENES, HEAD_INPUT_SCALE_FLOOR, WAVEFORM_INPUT, check_fill,
    resolve_tags)
from chainer_tagger.functions.stacked_lstm import stacked_lstm
from chainer_tagger.functions.standardization import (
    standardization_statistics, standardize)
from chainer_tagger.models.batching import run_in_batches
from chainer_tagger.models.class_scores import ClassScores
from chainer_tagger.models.soundnet import (SoundNet8, as_waveform_batch,
                                            soundnet_steps)
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.model_file import (FILL_SETTING, Setting,
                                                  TAGS_SETTING)


class Music2VecHead(chainer.Chain):
    """One classifier on SoundNet's standardized scenes: two stacked LSTMs
    of 200 units returning sequences, flatten, Dense 400 (ReLU), Dense 100
    (ReLU), Dense ``n_classes``.

    Parameters
    ----------
    n_classes : int
    steps : int
        SoundNet's output steps for one window (8).
    dropout : float
        Dropout between the LSTM layers and before the dense layers.
    input_dropout : float
        Dropout on the standardized scenes the first LSTM reads.
    """

    def __init__(self, n_classes, steps, dropout, input_dropout=0.0):
        super().__init__()
        self.dropout, self.input_dropout = dropout, input_dropout
        units = MUSIC2VEC_LSTM_UNITS
        dense1, dense2 = MUSIC2VEC_DENSE
        with self.init_scope():
            self.lstm = L.NStepLSTM(2, N_SCENES, units, dropout)
            self.fc1 = L.Linear(steps * units, dense1)
            self.fc2 = L.Linear(dense1, dense2)
            self.output = L.Linear(dense2, n_classes)

    def forward(self, h):
        """Logits of standardized scenes ``(N, steps, 401)``."""
        if self.input_dropout:
            h = F.dropout(h, self.input_dropout)
        h = stacked_lstm(h, self.lstm.ws, self.lstm.bs, self.dropout)
        h = F.reshape(h, (h.shape[0], -1))
        if self.dropout:
            h = F.dropout(h, self.dropout)
        h = F.relu(self.fc1(h))
        h = F.relu(self.fc2(h))
        return self.output(h)


class Music2Vec(ClassScores, chainer.Chain):
    """SoundNet body up to ``conv8_2`` -> 2 LSTMs (200) -> dense head.

    The 401-channel scene output of SoundNet (8 steps for 675,808 samples)
    is read as a sequence by two stacked LSTMs of 200 units returning
    sequences; their outputs are flattened and pass Dense 400 (ReLU),
    Dense 100 (ReLU) and Dense ``n_classes`` (softmax).

    With ``heads > 1`` the model is an ensemble of that many such heads on
    the one SoundNet body, trained independently (each on its own loss, see
    :meth:`head`) and averaged in probability: on a few hundred clips a
    single head's answer depends much on its random initialisation and
    dropout, and the average of several is both more accurate and steadier
    (the training guide gives the numbers).  Head 0's links keep the names
    of a single-head model (``lstm``, ``fc1``, ``fc2``, ``output``), so
    model files of one head read as before; the others are
    ``more_heads/<k>/...``.

    The scene output is standardized per channel and step before the
    LSTMs (``scene_mean``, ``scene_scale``: statistics of the training
    clips, set by :meth:`standardize_head_input`; identity by default).
    SoundNet's outputs differ in scale by a factor of 40 between steps (the
    last step sees the zero padding of every conv layer: mean -290, std 58,
    against -2 and 1.4 for the others), which saturates the LSTM gates when
    fed raw.

    Parameters
    ----------
    tags : str or sequence
        Class names (default: the 10 GTZAN genres).
    freeze_soundnet : bool
        Keep the SoundNet weights fixed (and its BN in inference mode).
    dropout : float
        Dropout between the LSTM layers and before the dense layers.
    input_fill : {'zeros', 'loop'}
        What a window holds past the end of a clip shorter than the
        30.6 s input (see :data:`~chainer_tagger.configuration.WINDOW_FILLS`).
    input_dropout : float
        Dropout on the standardized scenes each head reads (its own mask
        per head): the head cannot lean on a few scene outputs that happen
        to tell the training recordings apart.
    heads : int
        Heads of the ensemble (1: the seed's single classifier).
    soundnet : str, optional
        Initialise the SoundNet body from this pretrained model (normally
        ``'soundnet8'``); ``None`` leaves it random.
    pretrained_model : str, optional
        A trained music2vec ``.npz``.
    """

    arch = 'music2vec'
    exclusive_classes = True
    #: Inference-mode BN: a clip's outputs never depend on its batch.
    batch_dependent = False
    model_name = None
    #: sha256 of the weights it was loaded from (set by ``load_model``).
    weights_sha256 = None
    settings_types = {'tags': TAGS_SETTING, 'freeze_soundnet': bool,
                      'dropout': Setting((int, float), low=0, below=1),
                      'input_fill': FILL_SETTING,
                      'input_dropout': Setting((int, float), low=0, below=1),
                      'heads': Setting(int, low=1, high=MAX_MUSIC2VEC_HEADS)}
    #: The CPU kernels of its 1-D convolutions are float32 only.
    precisions = ('float32',)

    def __init__(self, tags=GTZAN_GENRES, freeze_soundnet=False, dropout=0.2,
                 input_fill='zeros', input_dropout=0.0, heads=1,
                 soundnet=None, pretrained_model=None):
        super().__init__()
        self.tags = resolve_tags(tags)
        self.settings = dict(tags=list(self.tags),
                             freeze_soundnet=freeze_soundnet, dropout=dropout,
                             input_fill=input_fill)
        # Files of the seed's recipe keep the settings they had.
        if input_dropout:
            self.settings['input_dropout'] = input_dropout
        if heads != 1:
            self.settings['heads'] = heads
        self.freeze_soundnet = freeze_soundnet
        self.clip_input = WAVEFORM_INPUT._replace(
            fill=check_fill(input_fill))
        steps = soundnet_steps(self.clip_input.n_samples)
        self.add_persistent('scene_mean',
                            np.zeros((N_SCENES, steps), np.float32))
        self.add_persistent('scene_scale',
                            np.ones((N_SCENES, steps), np.float32))
        with self.init_scope():
            self.soundnet = SoundNet8(pretrained_model=soundnet)
            # Head 0's links directly under the model (the names of a
            # one-head file), the others in a ChainList.
            first = Music2VecHead(len(self.tags), steps, dropout,
                                  input_dropout)
            self.lstm, self.fc1 = first.lstm, first.fc1
            self.fc2, self.output = first.fc2, first.output
            self.more_heads = chainer.ChainList(*[
                Music2VecHead(len(self.tags), steps, dropout, input_dropout)
                for _ in range(heads - 1)])
        self._first_head = first
        if freeze_soundnet:
            self.freeze_body()
        if pretrained_model is not None:
            path, _ = registry.prepare(pretrained_model,
                                       {self.arch: type(self)}, self.arch)
            registry.load_weights(path, self)

    def body_links(self):
        """The links of :meth:`body`: SoundNet."""
        return [self.soundnet]

    def freeze_body(self):
        """Keep SoundNet fixed: no updates, and inference-mode BN, so that
        its output for a window never changes and can be computed once."""
        self.freeze_soundnet = True
        self.settings = dict(self.settings, freeze_soundnet=True)
        self.soundnet.disable_update()
        return self

    def scenes(self, x):
        """SoundNet's ``conv8_2`` output, ``(N, 401, steps)``."""
        if self.freeze_soundnet and chainer.config.train:
            # Frozen: inference mode, and no graph to backpropagate into.
            with chainer.using_config('train', False), \
                    chainer.no_backprop_mode():
                return self.soundnet.scenes(x)
        return self.soundnet.scenes(x)

    #: The part a frozen-body run computes once per window (see
    #: :meth:`head`).
    body = scenes

    def embed(self, x):
        """The flattened SoundNet output per clip, ``(N, 401 * steps)``."""
        h = self.scenes(x)
        return F.reshape(h, (h.shape[0], -1))

    features = embed

    def logits(self, x):
        return self.head(self.scenes(x))

    def standardize_head_input(self, scenes):
        """Set the standardization of the LSTMs' input from SoundNet
        outputs ``(N, 401, steps)`` of training windows: each channel at
        each step to mean 0 and standard deviation 1."""
        mean, scale = standardization_statistics(scenes,
                                                 HEAD_INPUT_SCALE_FLOOR)
        self.scene_mean[...] = self.device.send(mean)
        self.scene_scale[...] = self.device.send(scale)
        return self

    @property
    def n_heads(self):
        """Heads of the ensemble."""
        return 1 + len(self.more_heads)

    def head_logits(self, scenes):
        """Each head's logits on SoundNet's ``(N, 401, steps)`` output,
        ``(N, heads, n_classes)``."""
        scenes = standardize(scenes, self.scene_mean, self.scene_scale)
        h = F.transpose(scenes, (0, 2, 1))  # (N, steps, 401)
        return F.stack([head(h) for head in
                        [self._first_head] + list(self.more_heads)], axis=1)

    def head(self, scenes):
        """Logits on SoundNet's ``(N, 401, steps)`` output: standardization,
        then each head's LSTMs and dense layers.

        One head: its logits.  An ensemble: the logarithm of the heads'
        mean class probabilities, so that the softmax of what it returns is
        that mean (what every command reports, and the ONNX export traces).
        """
        logits = self.head_logits(scenes)
        if self.n_heads == 1:
            return logits[:, 0]
        return F.logsumexp(F.log_softmax(logits, axis=2), axis=1) - \
            math.log(self.n_heads)

    def training_head(self, scenes):
        """What training minimizes on SoundNet's output: one head's logits
        ``(N, n_classes)``, or an ensemble's heads' logits ``(N, heads,
        n_classes)``, for :func:`~chainer_tagger.training.losses.
        ensemble_loss`, which trains each head on its own loss."""
        logits = self.head_logits(scenes)
        return logits[:, 0] if self.n_heads == 1 else logits

    def training_logits(self, x):
        """:meth:`training_head` of model inputs."""
        return self.training_head(self.scenes(x))

    @property
    def feature_size(self):
        return self.soundnet.feature_size

    def _run(self, method, waveforms, batch_size):
        return run_in_batches(self, method, waveforms, batch_size,
                              as_waveform_batch)

    def predict(self, waveforms, batch_size=8):
        """Class probabilities of 22,050 Hz waveforms in [-1, 1]."""
        return self._run(self.forward, waveforms, batch_size)

    def extract(self, waveforms, batch_size=8):
        """Flattened SoundNet embeddings of 22,050 Hz waveforms."""
        return self._run(self.embed, waveforms, batch_size)
