"""Keras-1 ``GRU`` as a Chainer link."""
import chainer
import chainer.functions as F
from chainer import initializers


class KerasGRU(chainer.Link):
    """Gated recurrent unit with the equations of Keras 1.x.

    For each time step, with ``hard_sigmoid(x) = clip(0.2 x + 0.5, 0, 1)``::

        z  = hard_sigmoid(x W_z + b_z + h U_z)
        r  = hard_sigmoid(x W_r + b_r + h U_r)
        hh = tanh(x W_h + b_h + (r * h) U_h)
        h' = z * h + (1 - z) * hh

    The reset gate multiplies ``h`` *before* the recurrent matrix (Keras,
    not cuDNN/Chainer's ``linear_before_reset`` variant), and ``z`` keeps
    the old state (Chainer's :class:`~chainer.links.GRU` keeps the new one).
    The initial state is zero.

    The three gates' matrices are stored side by side, in Keras' orientation
    (input units by output units) and order ``z, r, h``: ``W`` is
    ``(in_size, 3 * units)``, ``U`` is ``(units, 3 * units)``, ``b`` is
    ``(3 * units,)``.

    Parameters
    ----------
    in_size : int
        Features per time step of the input.
    units : int
        Size of the state.
    return_sequences : bool
        Return every step's state, ``(batch, time, units)``, instead of the
        last one, ``(batch, units)``.
    """

    def __init__(self, in_size, units, return_sequences=False):
        super().__init__()
        self.in_size = in_size
        self.units = units
        self.return_sequences = return_sequences
        with self.init_scope():
            self.W = chainer.Parameter(initializers.GlorotUniform(),
                                       (in_size, 3 * units))
            self.U = chainer.Parameter(initializers.Orthogonal(),
                                       (units, 3 * units))
            self.b = chainer.Parameter(initializers.Zero(), (3 * units,))

    def forward(self, x):
        """Run over ``x`` of shape ``(batch, time, in_size)``."""
        if x.ndim != 3 or x.shape[2] != self.in_size:
            raise ValueError('KerasGRU expects (batch, time, {}), got {}'
                             .format(self.in_size, x.shape))
        batch, steps, _ = x.shape
        u = self.units
        # Input projections of all steps at once: one GEMM instead of T.
        xw = F.matmul(F.reshape(x, (batch * steps, self.in_size)), self.W)
        xw = F.reshape(F.bias(xw, self.b, axis=1), (batch, steps, 3 * u))
        U_zr, U_h = self.U[:, :2 * u], self.U[:, 2 * u:]
        h = self.xp.zeros((batch, u), dtype=x.dtype)
        outputs = []
        for t in range(steps):
            x_zr, x_h = xw[:, t, :2 * u], xw[:, t, 2 * u:]
            zr = F.hard_sigmoid(x_zr + F.matmul(h, U_zr))
            z, r = zr[:, :u], zr[:, u:]
            hh = F.tanh(x_h + F.matmul(r * h, U_h))
            h = z * h + (1 - z) * hh
            outputs.append(h)
        if self.return_sequences:
            return F.stack(outputs, axis=1)
        return h
