"""Datasets for training and evaluation."""
from chainer_tagger.datasets.gtzan import GTZAN  # NOQA
