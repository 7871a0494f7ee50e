"""What the commands share: parent parsers, checks of arguments, and
writing to the terminal.

Imports nothing heavier than :mod:`chainer_tagger.configuration`: every
``--help`` builds the parsers from it.  The checks of output paths, which
scan the inputs, are :mod:`chainer_tagger.cli.run.outputs`.
"""
import argparse
import sys

from chainer_tagger.configuration import (AGGREGATE_RULE, AGGREGATES,
                                          DECODER_DELAY_CHOICES,
                                          KERAS_PRESETS, PRECISIONS)
from chainer_tagger.errors import UsageError
from chainer_tagger.escapes import printable


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line reported in one line
    (``chainer-tagger tag: error: ...``, exit status 2) instead of the
    usage block first."""

    def error(self, message):
        self.exit(2, '{}: error: {} (see {} --help)\n'.format(
            self.prog, message, self.prog))


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            'must be a positive integer, not {!r}'.format(text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            'must be a positive integer, not {}'.format(value))
    return value


def positive_float(text):
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            'must be a positive number, not {!r}'.format(text)) from None
    if not 0 < value < float('inf'):
        raise argparse.ArgumentTypeError(
            'must be a positive number, not {}'.format(text))
    return value


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
    p.add_argument('--batch-size', '-b', type=positive_int, default=default,
                   metavar='N',
                   help='clips per forward pass (default: {})'.format(
                       default))
    return p


def progress_options():
    """``--progress`` / ``--no-progress``; neither: bars only when stderr
    is a terminal (see :func:`resolve_progress`)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_mutually_exclusive_group()
    g.add_argument('--progress', dest='no_progress', action='store_false',
                   default=None,
                   help='progress bars on stderr even when it is not a '
                        'terminal')
    g.add_argument('--no-progress', dest='no_progress', action='store_true',
                   default=None,
                   help='no progress bars (default: bars on stderr only '
                        'when it is a terminal)')
    return p


def stderr_is_terminal():
    """Whether someone watches stderr: a terminal, not a file, a pipe or
    a closed stream."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def resolve_progress(args):
    """Settle ``args.no_progress`` of a command with
    :func:`progress_options` when neither flag was given: bars when stderr
    is a terminal, none in logs, pipes and files (where a bar's
    carriage returns are noise)."""
    if getattr(args, 'no_progress', False) is None:
        args.no_progress = not stderr_is_terminal()
    return args


def window_options():
    """``--window``, ``--hop``, ``--aggregate``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--window', choices=('centre', 'full'), default='centre',
                   help="'centre': the centre window, as the originals "
                        "(29.12 s; 30.6 s for music2vec); 'full': slide "
                        'windows over the whole file (default: centre)')
    p.add_argument('--hop', type=positive_float, default=None,
                   metavar='SECONDS',
                   help='seconds between windows, with --window full only '
                        '(default: the window length)')
    p.add_argument('--aggregate', choices=AGGREGATES, default=None,
                   help='with --window full only: one result per file, the '
                        'windows combined: {} (default for tag: mean; for '
                        'embed: a row per window)'.format(
                            AGGREGATE_RULE.replace('%', '%%')))
    return p


def check_window_options(args):
    """A :class:`UsageError` for ``--hop`` or ``--aggregate`` without
    ``--window full`` (they were silently ignored before)."""
    given = [name for name in ('hop', 'aggregate')
             if getattr(args, name, None) is not None]
    if args.window != 'full' and given:
        raise UsageError('{} only apply with --window full'.format(
            ' and '.join('--' + g for g in given)))


def write_stdout(text):
    """Write ``text`` to stdout; file names that are not valid UTF-8 (held
    as surrogate escapes) are written as their original bytes, as ``ls``
    does, rather than failing."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode(
            sys.stdout.encoding or 'utf-8', 'surrogateescape'))
        sys.stdout.buffer.flush()


def print_stderr(line):
    """One line on stderr, always one: control characters (a newline in a
    file name) are written as escapes
    (:func:`~chainer_tagger.escapes.printable`); bytes of file
    names that are not valid UTF-8 are shown as ``\\udcXX`` escapes
    (Python's own choice for stderr) whatever stream stands in for
    stderr."""
    line = printable(line)
    try:
        print(line, file=sys.stderr)
    except UnicodeEncodeError:
        print(line.encode('utf-8', 'backslashreplace').decode('utf-8'),
              file=sys.stderr)


def print_notes(results):
    """Each result's warnings and error on stderr, one line each."""
    for r in results:
        for w in r.get('warnings', ()):
            print_stderr('warning: {}: {}'.format(r['path'], w))
        if 'error' in r:
            print_stderr('error: {}'.format(r['error']))
