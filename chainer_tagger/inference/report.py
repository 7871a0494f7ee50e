"""Writing tagging results as a table, JSON or CSV.

Every format shows every input: its tags, or its error, and its warnings
(in a table a ``warning:`` line under the path, in CSV a ``warnings``
column, in JSON the ``warnings`` list).  JSON is strict (no NaN: a
result with non-finite scores is an error, see
:func:`~chainer_tagger.inference.tagging.result`).  A table is for a
person: a file name holding a newline or another control character is
shown with escapes (:func:`~chainer_tagger.escapes.printable`), so that
it can never print a line of its own; JSON and CSV quote such names and
keep them as they are.
"""
import csv
import io
import json

from chainer_tagger.escapes import printable


def top(result, k=None, percent=False):
    """``(tag, score)`` pairs of one result, best first.

    With ``percent``, scores are divided by their sum and multiplied by 100,
    like the 2018 Chainer port's output (sigmoid scores do not sum to 1).
    """
    tags = result['tags']
    if percent:
        total = sum(t['score'] for t in tags) or 1.0
        pairs = [(t['tag'], 100.0 * t['score'] / total) for t in tags]
    else:
        pairs = [(t['tag'], t['score']) for t in tags]
    return pairs[:k] if k else pairs


def value_name(percent):
    """The name of a tag's value: ``'percent'`` or ``'score'``."""
    return 'percent' if percent else 'score'


def _json_item(r, k, percent):
    r = dict(r)
    if 'tags' in r:
        key = value_name(percent)
        r['tags'] = [{'tag': t, key: s} for t, s in top(r, k, percent)]
    # An item as ``json.dumps(list, indent=1)`` writes it inside the list.
    return json.dumps([r], indent=1, allow_nan=False)[2:-2]


def json_chunks(results, k=None, percent=False):
    """Strict JSON, a list of the results, one piece at a time."""
    first = True
    for r in results:
        yield ('[\n' if first else ',\n') + _json_item(r, k, percent)
        first = False
    yield '[]\n' if first else '\n]\n'


def csv_chunks(results, k=None, percent=False):
    """CSV: a header, then one row per tag (or per error)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')

    def flush():
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow(['path', 'model', 'rank', 'tag', value_name(percent),
                     'warnings', 'error'])
    yield flush()
    for r in results:
        notes = '; '.join(r.get('warnings', ()))
        if 'error' in r:
            writer.writerow([r['path'], r['model'], '', '', '', notes,
                             r['error']])
        else:
            for rank, (t, s) in enumerate(top(r, k, percent), 1):
                writer.writerow([r['path'], r['model'], rank, t,
                                 '{:.6f}'.format(s), notes, ''])
        yield flush()


def table_chunks(results, k=None, percent=False):
    """A table: the path, then its warnings, error or tags, indented."""
    empty = True
    for r in results:
        empty = False
        lines = [printable(r['path'])]
        lines.extend('  warning: ' + printable(w)
                     for w in r.get('warnings', ()))
        if 'error' in r:
            lines.append('  error: ' + printable(r['error']))
        else:
            for t, s in top(r, k, percent):
                lines.append('  {:<20s} {}'.format(
                    printable(t), '{:6.2f} %'.format(s) if percent
                    else '{:.3f}'.format(s)))
        yield '\n'.join(lines) + '\n'
    if empty:
        yield '\n'


#: Each format as a generator of text pieces, so a report of a whole
#: library is written while its results are read, never held at once.
CHUNKS = {'table': table_chunks, 'json': json_chunks, 'csv': csv_chunks}


def chunks(results, fmt='table', k=None, percent=False):
    """The report of ``results`` (any iterable) in pieces; joined, they
    are :func:`render`'s text."""
    return CHUNKS[fmt](results, k=k, percent=percent)


def to_json(results, k=None, percent=False):
    return ''.join(json_chunks(results, k, percent))


def to_csv(results, k=None, percent=False):
    return ''.join(csv_chunks(results, k, percent))


def to_table(results, k=None, percent=False):
    return ''.join(table_chunks(results, k, percent))


FORMATS = {'table': to_table, 'json': to_json, 'csv': to_csv}


def render(results, fmt='table', k=None, percent=False):
    return FORMATS[fmt](results, k=k, percent=percent)
