"""Training and evaluating genre classifiers: inputs, the trainer,
evaluation and its plots, data-parallel runs."""
from chainer_tagger.training.evaluation import (  # NOQA
    classification_report, evaluate)
from chainer_tagger.training.trainer import (  # NOQA
    TrainingConfig, seed_everything, train)
