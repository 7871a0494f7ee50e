"""Training and evaluating genre classifiers: inputs, the trainer, the
linear probe, evaluation and what a run reports, data-parallel runs."""
from chainer_tagger.training.evaluation import (  # NOQA
    classification_report, clip_probabilities, evaluate, held_out_scores)
from chainer_tagger.training.probe import fit_probe  # NOQA
from chainer_tagger.training.trainer import (  # NOQA
    RECIPES, TrainingConfig, seed_everything, train)
