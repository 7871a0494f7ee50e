"""Chainer's Adam update of one float32 parameter in one pass over memory.

Why: Chainer's ``AdamRule.update_core_cpu`` runs about eight NumPy passes
with full-size temporaries per parameter (``grad - m``, ``grad * grad -
v``, ``sqrt(v) + eps``, ``step * m`` ...).  For SoundNet's 15.8 M
parameters that is 0.2-0.7 s per training step on this 2-core machine (a
fifth of a music2vec step with SoundNet trained), mostly memory traffic and
page faults of the temporaries.  This kernel does the same arithmetic, in
the same order and precision, element by element in one parallel loop.
"""

#: Every function here computes on NumPy arrays (see
#: chainer_tagger.functions.kernel_choice.host_only).
HOST_ONLY = True
import numba
import numpy as np


#: Parameters smaller than this are updated on the calling thread: waking
#: the thread pool costs more than their whole update (microseconds quiet,
#: milliseconds on a loaded machine), and a music2vec head has 19 of them
#: (the LSTMs' biases, the dense layers' small ones) among its 38 arrays.
PARALLEL_MIN_SIZE = 1 << 12


def _adam_update_loop(param, grad, m, v, one_minus_beta1, one_minus_beta2,
                      alpha_t, eps, decay, eta):
    for i in numba.prange(param.size):
        g = grad[i]
        m[i] += one_minus_beta1 * (g - m[i])
        v[i] += one_minus_beta2 * (g * g - v[i])
        step = alpha_t / (np.sqrt(v[i]) + eps)
        param[i] = decay * param[i] - eta * (step * m[i])


# The same loop twice: prange is a plain range without parallel=True.
_adam_update = numba.njit(parallel=True, nogil=True, cache=True)(
    _adam_update_loop)
_adam_update_serial = numba.njit(nogil=True, cache=True)(_adam_update_loop)


def adam_update(param, grad, m, v, beta1, beta2, alpha_t, eps, eta=1.0,
                weight_decay_rate=0.0):
    """Update ``param``, ``m`` and ``v`` in place as Chainer's Adam (no
    AMSGrad, no AdaBound) does on the CPU.

    Parameters
    ----------
    param, grad, m, v : numpy.ndarray
        C-contiguous float32 arrays of one shape.
    beta1, beta2, alpha_t, eps, eta, weight_decay_rate : float
        Chainer's hyperparameters; ``alpha_t`` the bias-corrected step
        size of this update.
    """
    arrays = (param, grad, m, v)
    if not all(isinstance(a, np.ndarray) and a.dtype == np.float32 and
               a.flags.c_contiguous and a.shape == param.shape
               for a in arrays):
        raise TypeError('adam_update takes C-contiguous float32 arrays of '
                        'one shape')
    f = np.float32
    kernel = (_adam_update if param.size >= PARALLEL_MIN_SIZE else
              _adam_update_serial)
    kernel(param.reshape(-1), grad.reshape(-1), m.reshape(-1),
                 v.reshape(-1), f(1.0 - beta1), f(1.0 - beta2), f(alpha_t),
                 f(eps), f(1.0 - eta * weight_decay_rate), f(eta))
