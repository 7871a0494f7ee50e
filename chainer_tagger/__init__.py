"""chainer-tagger."""
