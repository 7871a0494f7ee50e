"""An independent float64 NumPy forward pass of music2vec's head.

Written from the equations of Chainer's ``chainer.functions.n_step_lstm``
(the function behind ``chainer.links.NStepLSTM``) with the weights in the
order that Chainer's code and cuDNN use: its docstring swaps ``W_2`` and
``W_3`` (chainer/chainer#8579: ``_lstm`` stacks ``[w2, w0, w1, w3]`` as
``chainer.functions.lstm``'s ``a, i, f, o``, and cuDNN's matrices 0..3
are the input, forget, new-memory and output gates)::

    i_t = sigmoid(W_0 x_t + W_4 h_{t-1} + b_0 + b_4)     input gate
    f_t = sigmoid(W_1 x_t + W_5 h_{t-1} + b_1 + b_5)     forget gate
    a_t = tanh(W_2 x_t + W_6 h_{t-1} + b_2 + b_6)        cell input
    o_t = sigmoid(W_3 x_t + W_7 h_{t-1} + b_3 + b_7)     output gate
    c_t = f_t * c_{t-1} + i_t * a_t
    h_t = o_t * tanh(c_t)

with ``W_0..W_3`` of shape ``(units, inputs)``, ``W_4..W_7`` ``(units,
units)``, eight bias vectors per layer, and zero initial states; the
second layer reads the first one's states.  Then music2vec's head (the
package's model docstring and the music2vec design): the SoundNet scene
output ``(N, 401, steps)`` standardized as ``(x - scene_mean) /
scene_scale``, read as ``steps`` time steps of 401 features, two stacked
LSTMs of 200 units returning sequences, flattened step-major, Dense 400
(ReLU), Dense 100 (ReLU) and the output Dense (logits; Chainer's
``Linear`` computes ``x W^T + b``).

The weights come as a ``{name: array}`` mapping with the names Chainer's
``save_npz`` gives a Music2Vec (``lstm/0/w0``, ``fc1/W``, ``scene_mean``);
nothing of ``chainer_tagger`` is imported.  Slow and literal on purpose.
"""
import numpy as np

#: The layers of the head, in order.
LSTM_LAYERS = 2
DENSE = ('fc1', 'fc2', 'output')


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm(xs, w, b):
    """One LSTM layer over ``xs`` (N, T, inputs) from zero states; ``w``
    and ``b`` are the eight matrices and vectors of the equations above.
    Returns every hidden state, ``(N, T, units)``."""
    n, steps, _ = xs.shape
    units = w[0].shape[0]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    out = np.empty((n, steps, units))
    for t in range(steps):
        x = xs[:, t]

        def gate(j):
            return x @ w[j].T + h @ w[j + 4].T + b[j] + b[j + 4]
        i = sigmoid(gate(0))
        f = sigmoid(gate(1))
        a = np.tanh(gate(2))
        o = sigmoid(gate(3))
        c = f * c + i * a
        h = o * np.tanh(c)
        out[:, t] = h
    return out


def head(weights, scenes):
    """music2vec's logits ``(N, n_classes)`` from SoundNet scene outputs
    ``(N, 401, steps)``, in float64.

    Parameters
    ----------
    weights : mapping
        ``{name: array}`` as ``chainer.serializers.save_npz`` writes a
        Music2Vec (``lstm/<layer>/w<j>``, ``lstm/<layer>/b<j>``,
        ``fc1/W``, ``fc1/b``, ..., ``scene_mean``, ``scene_scale``).
    """
    def get(name):
        return np.asarray(weights[name], dtype=np.float64)
    x = (np.asarray(scenes, np.float64) - get('scene_mean')) \
        / get('scene_scale')
    h = x.transpose(0, 2, 1)  # (N, steps, 401): one step per time frame
    for layer in range(LSTM_LAYERS):
        h = lstm(h,
                 [get('lstm/{}/w{}'.format(layer, j)) for j in range(8)],
                 [get('lstm/{}/b{}'.format(layer, j)) for j in range(8)])
    h = h.reshape(h.shape[0], -1)
    for k, name in enumerate(DENSE):
        h = h @ get(name + '/W').T + get(name + '/b')
        if k < len(DENSE) - 1:
            h = np.maximum(h, 0.0)
    return h


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
