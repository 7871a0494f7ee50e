"""Optimizers of a training run."""
import numpy as np

import chainer

from chainer_tagger.functions.adam_update import adam_update


class FusedAdamRule(chainer.optimizers.adam.AdamRule):
    """Chainer's Adam rule; float32 NumPy parameters are updated by
    :func:`~chainer_tagger.functions.adam_update.adam_update` (one pass,
    parallel) instead of Chainer's NumPy expressions.  Everything else
    (CuPy arrays, AMSGrad, AdaBound, other dtypes) is Chainer's code."""

    def update_core_cpu(self, param):
        grad = param.grad
        hp = self.hyperparam
        if grad is None or hp.amsgrad or hp.adabound or not all(
                isinstance(a, np.ndarray) and a.dtype == np.float32 and
                a.flags.c_contiguous
                for a in (param.data, grad, self.state['m'],
                          self.state['v'])):
            return super().update_core_cpu(param)
        self._check_eps(np.float32)
        adam_update(param.data, grad, self.state['m'], self.state['v'],
                    hp.beta1, hp.beta2, self.alpha_t, hp.eps, hp.eta,
                    hp.weight_decay_rate)


class FusedAdam(chainer.optimizers.Adam):
    """:class:`chainer.optimizers.Adam` with :class:`FusedAdamRule`: the
    same updates, several times faster on the CPU for large models."""

    def create_update_rule(self):
        return FusedAdamRule(self.hyperparam)
