"""``serve``: a local, read-only web page over a library store.

The command's arguments; what it does is
:mod:`chainer_tagger.cli.run.serving` (which alone imports the web
framework, so ``--help`` stays fast).
"""
import argparse

from chainer_tagger.configuration import WEB_HOST, WEB_PORT


def port_number(text):
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            'must be a port number from 0 to 65535, not {!r}'.format(text))
    return value


def add_commands(sub):
    p = sub.add_parser(
        'serve', help='browse a library store (made by `tag --db`) in a web '
                      'page: filter by tags, listen, "more like this" '
                      '(read-only; extra [web])')
    p.add_argument('--db', required=True, metavar='PATH',
                   help='the library store to show; opened read-only, never '
                        'changed, nor is the music')
    p.add_argument('--host', default=WEB_HOST,
                   help='the address to listen on (default: {}, this machine '
                        'only; any other is announced with a warning, since '
                        'whoever reaches it can list and play the '
                        'library)'.format(WEB_HOST))
    p.add_argument('--port', type=port_number, default=WEB_PORT,
                   help='the TCP port (default: {}; 0: any free '
                        'port)'.format(WEB_PORT))
