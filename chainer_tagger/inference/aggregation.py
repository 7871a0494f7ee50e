"""Combining the rows of several windows of one file into one row."""
from chainer_tagger.errors import UsageError

AGGREGATES = ('mean', 'max')


def aggregate(rows, how):
    """``rows`` ``(windows, n)`` combined into one row ``(n,)`` by ``how``
    (``'mean'`` or ``'max'``)."""
    if how == 'mean':
        return rows.mean(axis=0)
    if how == 'max':
        return rows.max(axis=0)
    raise UsageError('aggregate must be one of {}, not {!r}'.format(
        ', '.join(AGGREGATES), how))
