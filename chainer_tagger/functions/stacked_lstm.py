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
    """The four gate matrices (or bias vectors) of an ``NStepLSTM`` layer,
    one block of rows each in the order ``(a, i, f, o)``.

    ``NStepLSTM`` keeps them as ``W0`` (input gate), ``W1`` (forget),
    ``W2`` (cell input), ``W3`` (output).  They are concatenated along the
    rows, not stacked and interleaved: the gradient of each is then a block
    of rows of one C-contiguous array, itself contiguous, which ChainerMN's
    gradient allreduce needs (it averages a copy of a non-contiguous
    gradient and leaves the gradient itself unchanged).
    """
    return F.concat([w[2], w[0], w[1], w[3]], axis=0)


def _interleaved(z):
    """``(N, 4 U)`` of gate blocks ``(a, i, f, o)`` in the layout
    :func:`chainer.functions.lstm` reads: ``reshape(N, U, 4)``, gate
    ``g`` of unit ``u`` at ``4 u + g``."""
    n = z.shape[0]
    return F.reshape(F.transpose(F.reshape(z, (n, 4, -1)), (0, 2, 1)),
                     (n, -1))


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
        # The input's and the hidden state's biases are added apart, so
        # that each gets a gradient array of its own (the sum of two
        # parameters would hand both the same array).
        projected = F.linear(F.reshape(x, (n * steps, -1)), w_input,
                             _gate_matrix(b[:4]))
        projected = F.reshape(projected + F.broadcast_to(
            _gate_matrix(b[4:]), projected.shape), (n, steps, -1))
        h = c = None
        outputs = []
        for t in range(steps):
            z = projected[:, t]
            if h is not None:
                z = z + F.linear(h, w_hidden)
            z = _interleaved(z)
            if h is None:
                c = chainer.backend.get_array_module(z).zeros(
                    (n, z.shape[1] // 4), z.dtype)
            c, h = F.lstm(c, z)
            outputs.append(h)
        x = F.stack(outputs, axis=1)
    return x
