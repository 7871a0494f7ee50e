"""``.. benchmark-results:: NAME``: a measured table, from its file.

The benchmark scripts write what they measured to
``benchmarks/results/NAME.json`` (``benchmarks/recording.py``), with where,
when, at which commit and by which command; the pages render the latest
file, and older measurements stay in git's history, not in the prose.

A file holds ``provenance`` (``machine``, ``date``, ``commit``,
``command``, and ``note`` where it needs one), ``tables`` (each a
``name``, a ``title``, ``columns`` and ``rows``) and optional ``lines``
(single measurements, one sentence each).  ``:table: NAME`` renders one
table only; ``:lines:`` adds the single measurements.  Every rendering
ends with the provenance line.  A missing file or table fails the build.
"""
import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective


def read_results(folder, name):
    """The parsed ``NAME.json``; a missing file is a build error."""
    path = Path(folder) / '{}.json'.format(name)
    with open(path, encoding='utf8') as f:
        return json.load(f), path


def table_node(table):
    """A docutils table of ``columns`` and ``rows`` (cells shown as text)."""
    columns = table['columns']
    node = nodes.table(classes=['benchmark-results'])
    if table.get('title'):
        node += nodes.title(text=table['title'])
    group = nodes.tgroup(cols=len(columns))
    node += group
    for _ in columns:
        group += nodes.colspec(colwidth=1)

    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text='' if cell is None else str(cell))
            r += entry
        return r
    head = nodes.thead()
    head += row(columns)
    body = nodes.tbody()
    for cells in table['rows']:
        if len(cells) != len(columns):
            raise ValueError('table {!r}: a row of {} cells under {} '
                             'columns'.format(table.get('name'), len(cells),
                                              len(columns)))
        body += row(cells)
    group += head
    group += body
    return node


def provenance_node(prov):
    """One paragraph: machine, date, commit and command of a measurement."""
    para = nodes.paragraph(classes=['benchmark-provenance'])
    para += nodes.emphasis(text='Measured ')
    parts = []
    if prov.get('date'):
        parts.append('on {}'.format(prov['date']))
    if prov.get('machine'):
        parts.append('on {}'.format(prov['machine']))
    if prov.get('commit'):
        parts.append('at commit {}'.format(prov['commit']))
    para += nodes.Text(', '.join(parts) + ', by ')
    para += nodes.literal(text=prov.get('command', '?'))
    para += nodes.Text('.')
    if prov.get('note'):
        para += nodes.Text(' ' + prov['note'])
    return para


class BenchmarkResults(SphinxDirective):
    required_arguments = 1
    option_spec = {'table': directives.unchanged,
                   'lines': directives.flag}

    def run(self):
        folder = self.config.benchmark_results_dir
        try:
            results, path = read_results(folder, self.arguments[0])
        except (OSError, ValueError) as e:
            raise self.error('benchmark results {!r}: {}'.format(
                self.arguments[0], e))
        self.env.note_dependency(str(path))
        wanted = self.options.get('table')
        tables = [t for t in results.get('tables', [])
                  if wanted in (None, t['name'])]
        if wanted and not tables:
            raise self.error('{}: no table {!r}'.format(path.name, wanted))
        out = []
        try:
            out += [table_node(t) for t in tables]
        except ValueError as e:
            raise self.error('{}: {}'.format(path.name, e))
        if 'lines' in self.options and results.get('lines'):
            items = nodes.bullet_list()
            for line in results['lines']:
                item = nodes.list_item()
                item += nodes.paragraph(text=line)
                items += item
            out.append(items)
        out.append(provenance_node(results.get('provenance', {})))
        return out


def setup(app):
    app.add_config_value('benchmark_results_dir', 'benchmarks/results',
                         'env')
    app.add_directive('benchmark-results', BenchmarkResults)
    return {'version': '1', 'parallel_read_safe': True}
