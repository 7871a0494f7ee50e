"""What a benchmark measured, with where, when and how: one JSON file.

Every benchmark script writes ``benchmarks/results/NAME.json`` (or
``--results PATH``; ``--results ''`` writes nothing): its tables, its single
measurements, and the provenance a reader needs to trust a number: the
machine (CPU, cores, library versions), the date (UTC), the commit (with
``-dirty`` when tracked files differ from it) and the command line.  The
documentation renders the latest file (``docs/_ext/benchmark_results.py``)
and git keeps the history, so no number has to live in prose.
"""
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from chainer_tagger.atomic_file import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'


def commit():
    """The checked-out commit, ``-dirty`` if tracked files were changed;
    ``None`` outside a git checkout."""
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain',
                                '--untracked-files=no'], cwd=ROOT,
                               capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ('-dirty' if dirty else '')


def machine():
    """CPU, core count and the versions that move the numbers."""
    import numpy
    import scipy
    import chainer
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return ('{}, {} CPUs, {} {}; Python {}, NumPy {}, SciPy {}, '
            'Chainer {}'.format(cpu, os.cpu_count(), platform.system(),
                                platform.machine(),
                                platform.python_version(), numpy.__version__,
                                scipy.__version__, chainer.__version__))


def provenance(argv=None, note=None):
    """``{machine, date, commit, command[, note]}`` of this run."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    out = {'machine': machine(),
           'date': datetime.datetime.now(datetime.timezone.utc).strftime(
               '%Y-%m-%d %H:%M UTC'),
           'commit': commit(),
           'command': ' '.join(['python', shlex.quote(str(script))]
                               + [shlex.quote(a) for a in argv[1:]])}
    if note:
        out['note'] = note
    return out


class Recorder:
    """Tables and single measurements of one run, written as one file
    (``rows = rec.table(...)``, ``rows.append([...])``, ``rec.write()``)."""

    def __init__(self, name):
        self.name = name
        self.tables = []
        self.lines = []

    def table(self, name, title, columns):
        """A new table; returns its list of rows, to append to."""
        rows = []
        self.tables.append({'name': name, 'title': title,
                            'columns': list(columns), 'rows': rows})
        return rows

    def line(self, text):
        """A single measurement, as one sentence."""
        self.lines.append(text)

    def write(self, path=None, note=None):
        """Write ``benchmarks/results/NAME.json`` (or ``path``); an empty
        ``path`` writes nothing.  Returns the path written, or ``None``."""
        if path == '':
            return None
        path = Path(path) if path else RESULTS / '{}.json'.format(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {'benchmark': self.name, 'provenance': provenance(note=note),
                'tables': self.tables, 'lines': self.lines}
        with atomic_write(path, 'w') as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write('\n')
        print('results written to {}'.format(path), file=sys.stderr)
        return path


def add_results_option(parser, name):
    """``--results PATH`` (default ``benchmarks/results/NAME.json``)."""
    parser.add_argument(
        '--results', metavar='PATH', default=None,
        help='where to write the results as JSON (default: '
             "benchmarks/results/{}.json; '' writes nothing)".format(name))
