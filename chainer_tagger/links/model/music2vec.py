"""music2vec: SoundNet, two stacked LSTMs and a dense head, on raw audio."""
import numpy as np

import chainer
import chainer.functions as F
import chainer.links as L

from chainer_tagger.links.model.soundnet import N_SCENES, SoundNet8
from chainer_tagger.tags import GTZAN_GENRES

#: Input length in samples at 22,050 Hz (30.6 s), as the original.
N_SAMPLES = 675808


def soundnet_steps(n_samples):
    """Output steps of SoundNet's conv8 heads for an input length."""
    n = n_samples
    for _, _, _, k, s, p, pool in (
            ('conv1', 0, 0, 64, 2, 32, 8), ('conv2', 0, 0, 32, 2, 16, 8),
            ('conv3', 0, 0, 16, 2, 8, None), ('conv4', 0, 0, 8, 2, 4, None),
            ('conv5', 0, 0, 4, 2, 2, 4), ('conv6', 0, 0, 4, 2, 2, None),
            ('conv7', 0, 0, 4, 2, 2, None)):
        n = (n + 2 * p - k) // s + 1
        if pool:
            n //= pool
    return (n - 8) // 2 + 1


def fit_waveform(y, n=N_SAMPLES):
    """Centre-crop or zero-pad a waveform to ``n`` samples."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) > n:
        start = (len(y) - n) // 2
        return y[start:start + n]
    return np.concatenate([y, np.zeros(n - len(y), np.float32)])


class Music2Vec(chainer.Chain):
    """SoundNet body up to ``conv8_2`` -> 2 LSTMs (200) -> dense head.

    The 401-channel scene output of SoundNet (8 steps for 675,808 samples)
    is read as a sequence by two stacked LSTMs of 200 units returning
    sequences; their outputs are flattened and pass Dense 400 (ReLU),
    Dense 100 (ReLU) and Dense ``n_classes`` (softmax).

    Parameters
    ----------
    tags : str or sequence
        Class names (default: the 10 GTZAN genres).
    freeze_soundnet : bool
        Keep the SoundNet weights fixed (and its BN in inference mode).
    dropout : float
        Dropout between the LSTM layers and before the dense layers.
    soundnet : str, optional
        Initialise the SoundNet body from this pretrained model (normally
        ``'soundnet8'``); ``None`` leaves it random.
    pretrained_model : str, optional
        A trained music2vec ``.npz``.
    """

    arch = 'music2vec'

    def __init__(self, tags=GTZAN_GENRES, freeze_soundnet=False, dropout=0.2,
                 soundnet=None, pretrained_model=None):
        from chainer_tagger import pretrained
        from chainer_tagger.links.model.melgram_tagger import resolve_tags
        super().__init__()
        self.tags = resolve_tags(tags)
        self.settings = dict(tags=list(self.tags),
                             freeze_soundnet=freeze_soundnet, dropout=dropout)
        self.freeze_soundnet = freeze_soundnet
        self.dropout = dropout
        steps = soundnet_steps(N_SAMPLES)
        with self.init_scope():
            self.soundnet = SoundNet8(pretrained_model=soundnet)
            self.lstm = L.NStepLSTM(2, N_SCENES, 200, dropout)
            self.fc1 = L.Linear(steps * 200, 400)
            self.fc2 = L.Linear(400, 100)
            self.output = L.Linear(100, len(self.tags))
        if freeze_soundnet:
            self.soundnet.disable_update()
        if pretrained_model is not None:
            path, _ = pretrained.prepare(pretrained_model, self.arch)
            pretrained.load_weights(path, self)

    def scenes(self, x):
        """SoundNet's ``conv8_2`` output, ``(N, 401, steps)``."""
        if self.freeze_soundnet:
            with chainer.using_config('train', False), \
                    chainer.no_backprop_mode():
                return self.soundnet.scenes(x)
        return self.soundnet.scenes(x)

    def embed(self, x):
        """The flattened SoundNet output per clip, ``(N, 401 * steps)``."""
        h = self.scenes(x)
        return F.reshape(h, (h.shape[0], -1))

    def logits(self, x):
        return self.head(self.scenes(x))

    def head(self, scenes):
        """LSTMs and dense layers on SoundNet's ``(N, 401, steps)`` output."""
        h = F.transpose(scenes, (0, 2, 1))  # (N, steps, 401)
        _, _, hs = self.lstm(None, None, list(F.separate(h, axis=0)))
        h = F.stack(hs)
        h = F.reshape(h, (h.shape[0], -1))
        if self.dropout:
            h = F.dropout(h, self.dropout)
        h = F.relu(self.fc1(h))
        h = F.relu(self.fc2(h))
        return self.output(h)

    def forward(self, x):
        """Class probabilities (softmax), ``(N, n_classes)``."""
        return F.softmax(self.logits(x))

    def _run(self, method, waveforms, batch_size):
        from chainer_tagger.links.model.melgram_tagger import run_in_batches
        x = np.stack([fit_waveform(w) for w in waveforms])
        return run_in_batches(self, method, x, batch_size)

    def predict(self, waveforms, batch_size=8):
        """Class probabilities of 22,050 Hz waveforms in [-1, 1]."""
        return self._run(self.forward, waveforms, batch_size)

    def extract(self, waveforms, batch_size=8):
        """Flattened SoundNet embeddings of 22,050 Hz waveforms."""
        return self._run(self.embed, waveforms, batch_size)
