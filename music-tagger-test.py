#!/usr/bin/env python
"""The 2018 Chainer port's entry point, kept working.

    python music-tagger-test.py -m CRNN|CNN0|CNN [--en] [FILES...]

-m CRNN  the 10-genre GTZAN CRNN (registry: crnn-gtzan)
-m CNN0  the early CNN with BatchNormalization mode 2 (cnn0-msd)
-m CNN   the 50-tag MusicTaggerCNN (cnn-msd)
--en     convert the Keras .h5 weights to a Chainer model first (the .h5 is
         found through $CHAINER_TAGGER_WEIGHTS_DIR or downloaded) into the
         cache, where tagging then finds it
--keras VERSION-BACKEND, --precision, --decoder-delay: as for
         `chainer-tagger tag`

Without FILES it tags the two songs the old script shipped
(bensound-thejazzpiano.wav and bensound-actionable.wav), found where the
project keeps its reference data: ``$CHAINER_TAGGER_SHARED/audio``, else
``../shared/audio`` beside this checkout, else ``data/`` (the old
script's folder); if they are in none of them, it says so in one line.

Prints each file's top-10 tags as percentages of the summed scores, in the
old format.  All files form one batch, as in the old script (this matters
for CNN0, whose mode-2 normalisation uses the batch's statistics).  A
failure is one ``error:`` line and exit status 2, as for the CLI.
"""
import argparse
import os
import sys
from pathlib import Path

from chainer_tagger.cli.common import (decoder_delay_options, keras_options,
                                       precision_options)

MODELS = {'CRNN': 'crnn-gtzan', 'CNN0': 'cnn0-msd', 'CNN': 'cnn-msd'}
#: The songs the old script tagged by default.
DEFAULT_SONGS = ('bensound-thejazzpiano.wav', 'bensound-actionable.wav')
SHARED_ENV = 'CHAINER_TAGGER_SHARED'


def song_folders():
    """Where the bundled songs may be, in order."""
    root = Path(__file__).resolve().parent
    folders = []
    if os.environ.get(SHARED_ENV):
        folders.append(Path(os.environ[SHARED_ENV]).expanduser() / 'audio')
    folders += [root.parent / 'shared' / 'audio', root / 'data']
    return folders


def default_files():
    """The bundled songs from the first folder that has them all, or
    None."""
    for folder in song_folders():
        files = [folder / name for name in DEFAULT_SONGS]
        if all(f.is_file() for f in files):
            return [str(f) for f in files]
    return None


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
                        help='audio files (default: the bundled songs {}, '
                        'from $CHAINER_TAGGER_SHARED/audio, ../shared/audio '
                        'or data/)'.format(', '.join(DEFAULT_SONGS)))
    args = parser.parse_args(argv)
    files = args.files or default_files()
    if files is None:
        print('error: no audio files given, and the bundled songs ({}) are '
              'in none of {}; pass audio files: python music-tagger-test.py '
              '-m {} SONG.mp3 ...'.format(
                  ', '.join(DEFAULT_SONGS),
                  ', '.join(str(f) for f in song_folders()), args.modelSel),
              file=sys.stderr)
        return 2
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
        source, target = registry.reconvert(name, ARCHITECTURES)
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


def _show_warning(message, category, filename, lineno, file=None,
                  line=None):
    """One ``warning:`` line per warning, as the CLI prints them."""
    print('warning: {}'.format(message), file=sys.stderr)


if __name__ == '__main__':
    import warnings
    from chainer_tagger.errors import ChainerTaggerError
    warnings.showwarning = _show_warning
    try:
        sys.exit(main())
    except ChainerTaggerError as e:
        print('error: {}'.format(e), file=sys.stderr)
        sys.exit(2)
