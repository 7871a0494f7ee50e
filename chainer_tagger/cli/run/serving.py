"""What ``serve`` does (its arguments: :mod:`chainer_tagger.cli.serving`).

The store is checked before the server starts, so a store that cannot be
read is one ``error:`` line and exit status 2, never an error page later.
"""
import socket
import sys
import warnings

from chainer_tagger.configuration import WEB_HOST
from chainer_tagger.errors import ChainerTaggerWarning, UsageError

try:
    import uvicorn
    from chainer_tagger.web.app import build_app
except ImportError as e:  # the [web] extra is not installed
    uvicorn = build_app = None
    MISSING = e.name


def run_serve(args):
    if uvicorn is None:
        raise UsageError(
            'serve needs the [web] extra ({} is missing): pip install '
            '"chainer-tagger[web]"'.format(MISSING))
    app = build_app(args.db, hosts=_host_names(args.host))
    if args.host != WEB_HOST:
        warnings.warn(
            'listening on {} rather than {}: whoever can reach that address '
            'can list and play this library'.format(args.host, WEB_HOST),
            ChainerTaggerWarning)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    host = '[{}]'.format(args.host) if ':' in args.host else args.host
    print('serving {} read-only at http://{}:{}/ (Ctrl-C stops)'.format(
        args.db, host, port), file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level='warning', access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _host_names(host):
    """The ``Host`` names requests may give: this machine's, and the
    address listened on; any for a wildcard address (``0.0.0.0``,
    ``::``), which the start-up warning announces."""
    if host in ('0.0.0.0', '::', ''):
        return ['*']
    return sorted({WEB_HOST, 'localhost', host})


def _bind(host, port):
    """The listening socket, bound now, so that a port in use or a host
    that is not this machine's is one line before anything starts."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        raise UsageError('--host {} --port {}: cannot listen there '
                         '({})'.format(host, port, e.strerror or e)) from None
    sock.set_inheritable(True)
    return sock
