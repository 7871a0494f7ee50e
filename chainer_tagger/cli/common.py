"""What the commands share: parent parsers and checks of arguments."""
import argparse

from chainer_tagger.configuration import (DECODER_DELAY_CHOICES,
                                          KERAS_PRESETS, PRECISIONS)
from chainer_tagger.errors import UsageError


def model_options(default, help_text):
    """``--model/-m``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--model', '-m', default=default, required=default is None,
                   help=help_text + (' (default: {})'.format(default)
                                     if default else ''))
    return p


def keras_options():
    """``--keras VERSION-BACKEND``: a Keras tagger's BatchNormalization."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        '--keras', choices=list(KERAS_PRESETS), default=None,
        metavar='VERSION-BACKEND',
        help='run a Keras tagger as this Keras-1 release (and backend) ran '
             "BatchNormalization: what running_std holds, where eps enters "
             'and eps ({}); default: the model\'s, see `chainer-tagger '
             'models`'.format(', '.join(KERAS_PRESETS)))
    return p


def precision_options():
    """``--precision float32|float64``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--precision', choices=PRECISIONS, default='float32',
                   help='float64 runs the model in double precision, for '
                        'reference runs against published full-precision '
                        'tables (slower; default: float32)')
    return p


def decoder_delay_options():
    """``--decoder-delay remove|keep``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--decoder-delay', choices=DECODER_DELAY_CHOICES,
                   default='remove',
                   help="MP3 decoder delay (529 samples): 'remove' it, as the "
                        "shipped melgrams were made, or 'keep' it, as 2016 "
                        'decoders without gapless information did (some '
                        'published tables; default: remove)')
    return p


def device_options():
    """``--gpu ID``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--gpu', type=int, default=None, metavar='ID',
                   help='CUDA device id (needs the [gpu] extra); default: '
                        'the CPU')
    return p


def batch_options(default):
    """``--batch-size/-b N``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--batch-size', '-b', type=int, default=default,
                   metavar='N',
                   help='clips per forward pass (default: {})'.format(
                       default))
    return p


def progress_options():
    """``--no-progress``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar')
    return p


def window_options():
    """``--window``, ``--hop``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--window', choices=('centre', 'full'), default='centre',
                   help="'centre': the centre window, as the originals "
                        "(29.12 s; 30.6 s for music2vec); 'full': slide "
                        'windows over the whole file (default: centre)')
    p.add_argument('--hop', type=float, default=None, metavar='SECONDS',
                   help='seconds between windows with --window full '
                        '(default: the window length)')
    return p


def check_positive(args, *names):
    """A :class:`UsageError` for options that must be positive."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError('--{} must be positive, got {}'.format(
                name.replace('_', '-'), value))
