"""The mean of a model's weights over the last epochs of a run.

Stochastic weight averaging (Izmailov et al. 2018): from epoch ``start``
on, the weights after each epoch are averaged, and the run's model is that
mean.  On a few hundred clips the weights of one epoch depend much on the
last batches it saw; the mean of several lies in a flatter part of the
loss and was steadier on recordings the model had not heard (the training
guide gives the numbers).  It also replaces choosing an epoch by the
held-out clips, which with 10 of them is mostly noise.
"""
import numpy as np

import chainer
from chainer.training import extension


class WeightAverage(extension.Extension):
    """The running mean of the trainable weights of ``net`` after each
    epoch from ``start`` (1-based) on.

    Its state (the first epoch, the count and the mean) is part of the
    trainer's snapshot, so a resumed run ends with the mean of an
    uninterrupted one.  A run resumed with more ``--epochs`` starts its
    mean later: when that start lies ahead, the mean of the first part is
    dropped (the result is that of an uninterrupted run of the new
    length); when the first part already averaged past it, the mean goes
    on from where it began.
    """

    trigger = (1, 'epoch')
    priority = extension.PRIORITY_WRITER

    def __init__(self, net, start):
        self.net, self.start = net, start
        self.count = 0
        self.mean = {}  # parameter name -> its mean so far
        self._resumed_start = None

    def _trainable(self):
        return [(name, p) for name, p in self.net.namedparams()
                if p.update_rule is None or p.update_rule.enabled]

    def __call__(self, trainer):
        epoch = trainer.updater.epoch
        if self._resumed_start is not None:
            if self._resumed_start != self.start and epoch <= self.start:
                self.count = 0  # the new start lies ahead: begin there
            elif self._resumed_start != self.start:
                self.start = self._resumed_start
            self._resumed_start = None
        if epoch < self.start:
            return
        self.count += 1
        for name, p in self._trainable():
            if self.count == 1:
                self.mean[name] = p.array.copy()
            else:
                self.mean[name] += (p.array - self.mean[name]) / self.count

    def apply(self):
        """Set ``net``'s trainable weights to the mean (nothing when no
        epoch was averaged)."""
        if not self.count:
            return False
        for name, p in self._trainable():
            p.array[...] = self.mean[name]
        return True

    def serialize(self, serializer):
        start = int(serializer('start', np.int64(self.start)))
        if isinstance(serializer, chainer.serializer.Deserializer):
            self._resumed_start = start
        self.count = int(serializer('count', np.int64(self.count)))
        if not self.count:
            return
        for name, p in self._trainable():
            key = 'mean' + name
            if isinstance(serializer, chainer.serializer.Deserializer):
                self.mean[name] = p.device.send(serializer(
                    key, np.zeros(p.shape, p.dtype)))
            else:
                serializer(key, chainer.backends.cuda.to_cpu(
                    self.mean[name]))
