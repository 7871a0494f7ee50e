"""Running a piece of a test in a forked process with a time limit, so
that a run that would hang (a named pipe opened, a lock never released)
fails the test instead of hanging the suite.

The child is a fork of the test process (nothing is imported again, so it
starts in milliseconds); what the function returns, and what it wrote on
stdout and stderr, come back through a pipe.
"""
import io
import multiprocessing
import os
import sys
import traceback

FORK = multiprocessing.get_context('fork')


class Hung(AssertionError):
    """The function was still running at the time limit (it was killed)."""


def _child(conn, function, args):
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    try:
        value = function(*args)
        conn.send(('ok', value, out.getvalue(), err.getvalue()))
    except BaseException:
        conn.send(('raised', traceback.format_exc(), out.getvalue(),
                   err.getvalue()))
    finally:
        conn.close()
        os._exit(0)


def run_forked(function, *args, timeout=60):
    """``(value, stdout, stderr)`` of ``function(*args)`` run in a forked
    child; :class:`Hung` when it runs longer than ``timeout`` seconds, an
    ``AssertionError`` with the child's traceback when it raised."""
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_child, args=(send, function, args))
    child.start()
    send.close()
    if not receive.poll(timeout):
        child.kill()
        child.join()
        raise Hung('still running after {} s: {}{}'.format(
            timeout, getattr(function, '__name__', function), args))
    kind, value, out, err = receive.recv()
    child.join()
    if kind == 'raised':
        raise AssertionError('the child raised:\n' + value)
    return value, out, err
