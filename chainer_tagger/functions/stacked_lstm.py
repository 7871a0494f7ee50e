"""Stacked unidirectional LSTMs over equal-length sequences, batched.

:class:`chainer.links.NStepLSTM` takes a list of sequences of any length,
and Chainer's CPU implementation pays for that generality: at every step of
every layer it stacks the eight weight matrices again and splits the batch
into one variable per sequence, about 700 graph nodes for a batch of eight
8-step clips.  music2vec's sequences all have the same length (SoundNet's 8
output steps), so the same arithmetic can run on the whole batch: one GEMM
projects every step's input at once, and one step costs a GEMM of the
hidden state and :func:`chainer.functions.lstm`.  The result equals
``NStepLSTM`` with zero initial states (tested), and its weights are the
link's own, so model files do not change.

Only Chainer's standard functions are used, so the same graph runs on a GPU
and traces into ONNX.
"""
import chainer
import chainer.functions as F


def _gate_matrix(w):
    """The four gate matrices of an ``NStepLSTM`` layer in the interleaved
    ``(a, i, f, o)`` layout :func:`chainer.functions.lstm` reads.

    ``NStepLSTM`` keeps them as ``W0`` (input gate), ``W1`` (forget),
    ``W2`` (cell input), ``W3`` (output); ``F.lstm`` splits its input as
    ``reshape(N, units, 4)``, so row ``4 u + g`` is gate ``g`` of unit
    ``u``.
    """
    stacked = F.stack([w[2], w[0], w[1], w[3]], axis=1)
    return F.reshape(stacked, (-1,) + stacked.shape[2:])


def stacked_lstm(x, ws, bs, dropout_ratio=0.0):
    """The last layer's outputs of stacked LSTMs, ``(N, T, units)``.

    Parameters
    ----------
    x : chainer.Variable or array, shape ``(N, T, D)``
        ``N`` sequences of ``T`` steps.
    ws, bs : sequence of sequences of chainer.Variable
        ``NStepLSTM.ws`` and ``NStepLSTM.bs``: per layer, eight weight
        matrices (four for the input, four for the hidden state) and eight
        bias vectors.
    dropout_ratio : float
        Dropout on the input of every layer but the first, as
        ``NStepLSTM`` does (only in training mode).

    Returns
    -------
    chainer.Variable
    """
    n, steps = x.shape[:2]
    for layer, (w, b) in enumerate(zip(ws, bs)):
        if layer and dropout_ratio:
            x = F.dropout(x, dropout_ratio)
        w_input = _gate_matrix(w[:4])
        w_hidden = _gate_matrix(w[4:])
        bias = _gate_matrix([b[k] + b[k + 4] for k in range(4)])
        projected = F.reshape(
            F.linear(F.reshape(x, (n * steps, -1)), w_input, bias),
            (n, steps, -1))
        h = c = None
        outputs = []
        for t in range(steps):
            z = projected[:, t]
            if h is None:
                c = chainer.backend.get_array_module(z).zeros(
                    (n, z.shape[1] // 4), z.dtype)
            else:
                z = z + F.linear(h, w_hidden)
            c, h = F.lstm(c, z)
            outputs.append(h)
        x = F.stack(outputs, axis=1)
    return x
