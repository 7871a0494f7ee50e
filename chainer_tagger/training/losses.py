"""What a training run minimizes, and the accuracy it reports.

A classifier's logits are ``(N, n_classes)``; an ensemble of heads gives
each head's for training, ``(N, heads, n_classes)`` (see
:meth:`~chainer_tagger.models.Music2Vec.training_head`).  Each head of an ensemble
is trained on its own softmax cross-entropy, as if trained alone: training
the average of their probabilities instead would let the heads lean on each
other, and the average of independent heads is what reduces the variance
of a model fitted to a few hundred clips.
"""
import chainer
import chainer.functions as F


def ensemble_loss(logits, labels):
    """Softmax cross-entropy, averaged over the heads of an ensemble.

    Parameters
    ----------
    logits : chainer.Variable
        ``(N, n_classes)``, or ``(N, heads, n_classes)``.
    labels : array of int, shape ``(N,)``

    Returns
    -------
    chainer.Variable
        A scalar: the mean over the batch (and the heads).
    """
    if logits.ndim == 2:
        return F.softmax_cross_entropy(logits, labels)
    n, heads, classes = logits.shape
    xp = chainer.backend.get_array_module(labels)
    # Row i * heads + k of the reshaped logits is head k on sample i.
    return F.softmax_cross_entropy(F.reshape(logits, (n * heads, classes)),
                                   xp.repeat(labels, heads))


def ensemble_accuracy(logits, labels):
    """Accuracy of the class of highest mean probability over the heads
    (of the logits themselves for one head)."""
    if logits.ndim == 3:  # the argmax of the mean probability
        logits = F.mean(F.softmax(logits, axis=2), axis=1)
    return F.accuracy(logits, labels)
