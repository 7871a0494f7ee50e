"""The ``chainer-tagger`` command: one module per command group.

A group's module (``tagging``, ``similar``, ``models``, ``training``,
``embedding``, ``doctor``, ``serving``) declares its commands' arguments
and imports nothing heavier than :mod:`chainer_tagger.configuration`; what
a command does lives in
:mod:`chainer_tagger.cli.run`, which imports the numerical stack
(Chainer, NumPy, librosa...) and is imported only when its command runs
(:data:`COMMANDS`).  So ``--version``, ``--help`` and mistakes in the
arguments answer at once (about 0.1 s rather than 3 s).

Whatever goes wrong on purpose is one ``error:`` line on stderr and exit
status 2; warnings are one ``warning:`` line each; progress bars (only
when stderr is a terminal, unless ``--progress`` or ``--no-progress``)
and reports go to stderr, the results to stdout (or ``-o``).
"""
import importlib
import os
import sys
import warnings

from chainer_tagger import __version__
from chainer_tagger.cli import (doctor, embedding, models, serving,
                                similar, tagging, training)
from chainer_tagger.cli.common import Parser, print_stderr, resolve_progress
from chainer_tagger.errors import ChainerTaggerError

#: What each command runs, ``'module:function'``: the one place where the
#: package imports its own modules late (:func:`command_function`), so
#: that building the parsers imports none of them.  A new command adds
#: its row here (a test checks that every command has one and that each
#: row resolves).
COMMANDS = {
    'tag': 'chainer_tagger.cli.run.tagging:run_tag',
    'taggram': 'chainer_tagger.cli.run.tagging:run_taggram',
    'models': 'chainer_tagger.cli.run.models:run_models',
    'convert': 'chainer_tagger.cli.run.models:run_convert',
    'export': 'chainer_tagger.cli.run.models:run_export',
    'train': 'chainer_tagger.cli.run.training:run_train',
    'evaluate': 'chainer_tagger.cli.run.training:run_evaluate',
    'embed': 'chainer_tagger.cli.run.embedding:run_embed',
    'doctor': 'chainer_tagger.cli.run.doctor:run_doctor',
    'similar': 'chainer_tagger.cli.run.similar:run_similar',
    'serve': 'chainer_tagger.cli.run.serving:run_serve',
}


def build_parser():
    parser = Parser(
        prog='chainer-tagger',
        description='Music auto-tagging and genre classification in Chainer.')
    parser.add_argument('--version', action='version',
                        version='chainer-tagger {}'.format(__version__),
                        help="print chainer-tagger's version and exit")
    sub = parser.add_subparsers(dest='command', required=True,
                                metavar='COMMAND')
    for group in (tagging, similar, models, training, embedding, doctor,
                  serving):
        group.add_commands(sub)
    return parser


def command_function(command):
    """The function that runs ``command`` (a key of :data:`COMMANDS`),
    its module imported now: the numerical stack loads only for a
    command that needs it, never for ``--help``."""
    module, function = COMMANDS[command].split(':')
    return getattr(importlib.import_module(module), function)


def _show_warning(message, category, filename, lineno, file=None,
                  line=None):
    """One ``warning:`` line per warning, without the source line."""
    print_stderr('warning: {}'.format(message))


def main(argv=None):
    """Run the command line; returns the exit status (0: done, 1: some
    inputs failed, 2: the command could not run, 130: interrupted)."""
    try:
        args = resolve_progress(build_parser().parse_args(argv))
    except SystemExit as e:  # --help, --version, a mistake in the arguments
        return e.code
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = command_function(args.command)(args)
            sys.stdout.flush()
        return status
    except ChainerTaggerError as e:
        print_stderr('error: {}'.format(e))
        return 2
    except BrokenPipeError:
        # The reader went away (``chainer-tagger models | head``): stop
        # quietly, and keep Python from failing again on flushing stdout.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass  # stdout is not a file descriptor (an embedding program)
        return 1
    except OSError as e:  # a file or folder the system refused
        print_stderr('error: {}'.format(e))
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
