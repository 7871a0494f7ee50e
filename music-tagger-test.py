#!/usr/bin/env python
"""The 2018 Chainer port's entry point, kept working.

    python music-tagger-test.py -m CRNN|CNN0|CNN [--en] [FILES...]

-m CRNN  the 10-genre GTZAN CRNN (registry: crnn-gtzan)
-m CNN0  the early CNN with BatchNormalization mode 2 (cnn0-msd)
-m CNN   the 50-tag MusicTaggerCNN (cnn-msd)
--en     convert the Keras .h5 weights to a Chainer model first (the .h5 is
         found through $CHAINER_TAGGER_WEIGHTS_DIR or downloaded)
--keras VERSION-BACKEND, --precision, --decoder-delay: as for
         `chainer-tagger tag`

Prints each file's top-10 tags as percentages of the summed scores, in the
old format.  All files form one batch, as in the old script (this matters
for CNN0, whose mode-2 normalisation uses the batch's statistics).
"""
import argparse
import os
import sys

from chainer_tagger.cli.common import (decoder_delay_options, keras_options,
                                       precision_options)

MODELS = {'CRNN': 'crnn-gtzan', 'CNN0': 'cnn0-msd', 'CNN': 'cnn-msd'}
DEFAULT_FILES = ['data/bensound-thejazzpiano.wav',
                 'data/bensound-actionable.wav']


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Music Tagger for Chainer',
        parents=[keras_options(), precision_options(),
                 decoder_delay_options()])
    parser.add_argument('--modelSel', '-m', default='CRNN',
                        choices=sorted(MODELS), help='model: CRNN, CNN0, CNN')
    parser.add_argument('--en', action='store_true',
                        help='convert the Keras h5 weights first')
    parser.add_argument('files', nargs='*', metavar='FILES',
                        help='audio files (default: {})'.format(
                            ' '.join(DEFAULT_FILES)))
    args = parser.parse_args(argv)
    files = args.files or DEFAULT_FILES
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        parser.error('no such file: {} (give audio files as arguments)'
                     .format(', '.join(missing)))

    from chainer_tagger.inference import tag
    from chainer_tagger.inference.report import top
    from chainer_tagger.models import ARCHITECTURES
    from chainer_tagger.pretrained import registry

    name = MODELS[args.modelSel]
    if args.en:
        source = registry.find_source(name)
        target = registry.converted_path(name, registry.sha256sum(source))
        registry.convert(source, target, ARCHITECTURES, name=name)
        print('converted {} -> {}'.format(source, target))
    if args.modelSel == 'CNN0':
        print('set to use mode 2')
    results = tag(files, model=name, batch_size=len(files), keras=args.keras,
                  precision=args.precision,
                  decoder_delay=args.decoder_delay)
    print('* top-10 tags: genre prediction result percentage *')
    status = 0
    for r in results:
        print(r['path'])
        if 'error' in r:
            print('error:', r['error'])
            status = 1
            continue
        pairs = [(t, '%5.3f' % s) for t, s in top(r, 10, percent=True)]
        print(pairs[:5])
        print(pairs[5:10])
        print(' ')
    return status


if __name__ == '__main__':
    from chainer_tagger.errors import ChainerTaggerError
    try:
        sys.exit(main())
    except ChainerTaggerError as e:
        sys.exit('error: {}'.format(e))
