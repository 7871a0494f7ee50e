"""Writing tagging results as a table, JSON or CSV.

Every format shows every input: its tags, or its error, and its warnings
(in a table a ``warning:`` line under the path, in CSV a ``warnings``
column, in JSON the ``warnings`` list).  JSON is strict (no NaN: a
result with non-finite scores is an error, see
:func:`~chainer_tagger.inference.tagging.result`).
"""
import csv
import io
import json


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


def to_json(results, k=None, percent=False):
    key = value_name(percent)
    out = []
    for r in results:
        r = dict(r)
        if 'tags' in r:
            r['tags'] = [{'tag': t, key: s} for t, s in top(r, k, percent)]
        out.append(r)
    return json.dumps(out, indent=1, allow_nan=False) + '\n'


def to_csv(results, k=None, percent=False):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['path', 'model', 'rank', 'tag', value_name(percent),
                     'warnings', 'error'])
    for r in results:
        notes = '; '.join(r.get('warnings', ()))
        if 'error' in r:
            writer.writerow([r['path'], r['model'], '', '', '', notes,
                             r['error']])
            continue
        for rank, (t, s) in enumerate(top(r, k, percent), 1):
            writer.writerow([r['path'], r['model'], rank, t,
                             '{:.6f}'.format(s), notes, ''])
    return buf.getvalue()


def to_table(results, k=None, percent=False):
    lines = []
    for r in results:
        lines.append(r['path'])
        lines.extend('  warning: ' + w for w in r.get('warnings', ()))
        if 'error' in r:
            lines.append('  error: ' + r['error'])
            continue
        for t, s in top(r, k, percent):
            lines.append('  {:<20s} {}'.format(
                t, '{:6.2f} %'.format(s) if percent else '{:.3f}'.format(s)))
    return '\n'.join(lines) + '\n'


FORMATS = {'table': to_table, 'json': to_json, 'csv': to_csv}


def render(results, fmt='table', k=None, percent=False):
    return FORMATS[fmt](results, k=k, percent=percent)
