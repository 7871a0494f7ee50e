#!/usr/bin/env python
"""Convert a Keras-1 weight file of Choi's taggers into a chainer-tagger .npz.

    python convert/keras_h5_to_npz.py SRC.h5 DST.npz [--arch crnn|cnn]
                                      [--running-std-is variance|std]

The same as `chainer-tagger convert`; see chainer_tagger.keras_h5 for what
the conversion does (kernel flipping for Theano files, BN semantics of the
Keras version that wrote the file, shape checks, atomic write).
"""
import sys

from chainer_tagger.cli import main

if __name__ == '__main__':
    sys.exit(main(['convert'] + sys.argv[1:]))
