"""The one place a classifier's scores are made from its logits.

Every command reports what the model was trained to output: a softmax
over classes for a model whose classes exclude each other (``exclusive_
classes``: music2vec, the linear probe, a CRNN fine-tuned by ``train``,
all fitted with softmax cross-entropy), independent sigmoids for a
multi-label tagger (Choi's 50 Last.fm tags, where a song is "rock" and
"guitar" at once).  Tagging, taggrams, the library store and the ONNX
export all run a model's ``forward``, which is :meth:`ClassScores.scores`
of its logits, so no caller chooses the output function.
"""
import chainer.functions as F


def class_scores(logits, exclusive_classes):
    """Scores of ``(N, n_classes)`` logits: softmax over classes when
    ``exclusive_classes`` (each row sums to 1), else a sigmoid per tag."""
    return F.softmax(logits) if exclusive_classes else F.sigmoid(logits)


class ClassScores:
    """What a classifier of the zoo shares: its scores are
    :func:`class_scores` of its ``logits`` with its ``exclusive_classes``.

    A class that mixes this in defines ``logits(x)`` and
    ``exclusive_classes``; its ``forward`` (what ``predict``, tagging and
    the ONNX export run) is then the output function it was trained with.
    """

    def scores(self, logits):
        """The model's output function on logits (see
        :func:`class_scores`): what its training fitted."""
        return class_scores(logits, self.exclusive_classes)

    def forward(self, x):
        """Class scores of a batch of model inputs, ``(N, n_classes)``."""
        return self.scores(self.logits(x))

    def training_logits(self, x):
        """What a training loss (``chainer_tagger.training.losses``)
        takes from model inputs: the logits, ``(N, n_classes)``.  An
        ensemble gives each member's instead (see
        :meth:`~chainer_tagger.models.Music2Vec.training_head`)."""
        return self.logits(x)

    def training_head(self, h):
        """:meth:`training_logits` from the output of a frozen body (the
        input of ``head``)."""
        return self.head(h)
