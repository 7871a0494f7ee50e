"""Control characters escaped in what a person reads (tables, warnings,
errors, progress), so that a file name can never forge a line.

The standard library only: the command line writes its errors with it
before (or without) importing the numerical stack.
"""
import re

#: Characters that would let a file name move the cursor, end a line or
#: reorder the text around it: C0 and C1 controls, DEL, the Unicode line
#: and paragraph separators, and the bidirectional embeddings, overrides
#: and isolates.
CONTROL_CHARACTERS = re.compile(
    '[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')
_NAMED_ESCAPES = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def _escape(match):
    c = match.group()
    if c in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[c]
    return '\\x{:02x}'.format(ord(c)) if ord(c) < 0x100 else \
        '\\u{:04x}'.format(ord(c))


def printable(text):
    """``text`` with each control character written as an escape
    (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u2028``...), for what a person
    reads (tables, warnings, errors, progress): a name can then never
    forge a line.  Bytes of names that are not UTF-8 (surrogate escapes)
    are left for the writer."""
    return CONTROL_CHARACTERS.sub(_escape, str(text))
