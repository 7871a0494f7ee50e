"""The ``chainer-tagger`` command: one module per command group.

Each command's ``run`` imports the machinery it needs when it runs, so
``--help`` and argument errors answer at once.
"""
import argparse
import sys

from chainer_tagger.cli import doctor, embedding, models, tagging, training
from chainer_tagger.errors import ChainerTaggerError


def build_parser():
    parser = argparse.ArgumentParser(
        prog='chainer-tagger',
        description='Music auto-tagging and genre classification in Chainer.')
    sub = parser.add_subparsers(dest='command', required=True)
    for group in (tagging, models, training, embedding, doctor):
        group.add_commands(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ChainerTaggerError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
