#!/usr/bin/env python
"""Convert a Keras-1 weight file of Choi's taggers into a chainer-tagger .npz.

    python convert/keras_h5_to_npz.py SRC.h5 DST.npz [--arch crnn|cnn]
                                      [--keras VERSION-BACKEND]

The same as `chainer-tagger convert`; see chainer_tagger.pretrained.keras_h5
for what the conversion does (layers matched by structure, nested
containers, kernel flipping for Theano files, the Keras preset recorded,
shape checks, atomic write).
"""
import sys

from chainer_tagger.cli import main

if __name__ == '__main__':
    sys.exit(main(['convert'] + sys.argv[1:]))
