"""``chainer-tagger --version`` and ``--help`` answer without the
numerical stack, and the late imports that allow it stay in their two
tables (``chainer_tagger.PUBLIC_NAMES``, ``chainer_tagger.cli.COMMANDS``)
without making an import cycle.

Before, ``--help`` imported Chainer, NumPy, SciPy, librosa, Numba and
matplotlib: about 3 s on an idle laptop core before a line was printed.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chainer_tagger
from chainer_tagger.cli import COMMANDS, build_parser, command_function

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'chainer_tagger'

#: Top-level modules that ``--help`` must not load: the numerical stack,
#: the audio decoders and what only some commands need.
HEAVY = frozenset((
    'chainer', 'cupy', 'numpy', 'scipy', 'librosa', 'numba', 'llvmlite',
    'matplotlib', 'sklearn', 'soundfile', 'audioread', 'h5py', 'onnx',
    'onnx_chainer', 'onnxruntime', 'mutagen', 'tqdm', 'mpi4py',
    'chainermn'))

#: Runs the CLI's ``main`` in a fresh interpreter on ``sys.argv[1:]`` and
#: prints, as one JSON line, its exit status, what it wrote on stdout and
#: the heavy modules then in ``sys.modules``.
WRAPPER = """
import contextlib, io, json, sys
out = io.StringIO()
with contextlib.redirect_stdout(out):
    from chainer_tagger.cli import main
    status = main(sys.argv[1:])
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps({{'status': status, 'out': out.getvalue(),
                  'heavy': heavy}}))
""".format(heavy=sorted(HEAVY))


def _run(*argv, code=WRAPPER):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, '-c', code] + list(argv),
                          env=env, capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _subcommands(parser):
    return next(a for a in parser._actions if a.dest == 'command').choices


def _option_strings(parser):
    return [s for a in parser._actions for s in a.option_strings]


def test_version_loads_nothing_heavy():
    r = _run('--version')
    assert r == {'status': 0, 'out': 'chainer-tagger 0.1.0\n', 'heavy': []}


def test_help_loads_nothing_heavy_and_lists_every_command():
    r = _run('--help')
    assert r['status'] == 0 and r['heavy'] == []
    assert r['out'].startswith('usage: chainer-tagger')
    for name in COMMANDS:
        assert '\n    {} '.format(name) in r['out'], name
    assert set(_subcommands(build_parser())) == set(COMMANDS)


@pytest.mark.parametrize('command', sorted(COMMANDS))
def test_command_help_loads_nothing_heavy_and_lists_every_option(command):
    r = _run(command, '--help')
    assert r['status'] == 0 and r['heavy'] == [], r['heavy']
    assert r['out'].startswith('usage: chainer-tagger {}'.format(command))
    parser = _subcommands(build_parser())[command]
    options = _option_strings(parser)
    assert '--help' in options
    for option in options:
        assert option in r['out'], (command, option)


def test_a_mistake_in_the_arguments_loads_nothing_heavy():
    code = WRAPPER.replace('redirect_stdout(out)',
                           'redirect_stdout(out), '
                           'contextlib.redirect_stderr(io.StringIO())')
    r = _run('tag', '--top', '0', 'x.mp3', code=code)
    assert r == {'status': 2, 'out': '', 'heavy': []}


def test_tag_help_names_the_constants_it_reads():
    """The help texts moved their constants to ``configuration``: the
    text is the same as the machinery's own rules."""
    from chainer_tagger import configuration
    from chainer_tagger.audio import SCAN_RULE
    from chainer_tagger.inference.aggregation import AGGREGATE_RULE
    from chainer_tagger.training import RECIPES
    assert RECIPES is configuration.TRAINING_RECIPES
    help_text = ' '.join(_subcommands(build_parser())['tag'].format_help()
                         .split())
    assert ' '.join(SCAN_RULE.split()) in help_text
    assert ' '.join(AGGREGATE_RULE.split()) in help_text
    train = ' '.join(_subcommands(build_parser())['train'].format_help()
                     .split())
    assert 'learning rate (default: {:g} for music2vec, {:g} for the ' \
        'CRNN)'.format(RECIPES['music2vec']['lr'],
                       RECIPES['crnn']['lr']) in train


def test_every_command_runs_a_function_of_cli_run():
    for name, target in COMMANDS.items():
        module, function = target.split(':')
        assert module.startswith('chainer_tagger.cli.run.'), name
        run = command_function(name)
        assert callable(run) and run.__name__ == function
        assert sys.modules[module].__name__ == module


def test_import_chainer_tagger_loads_nothing_heavy_and_keeps_its_names():
    code = ('import sys, json; import chainer_tagger; '
            'print(json.dumps(sorted({m.split(".")[0] for m in '
            'sys.modules} & set(%r))))' % sorted(HEAVY))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, '-c', code], env=env,
                         capture_output=True, text=True, check=True,
                         cwd=str(ROOT), timeout=120).stdout
    assert json.loads(out) == []
    assert chainer_tagger.__all__ == sorted(chainer_tagger.PUBLIC_NAMES)
    from chainer_tagger.inference import tag
    from chainer_tagger.models import load_model
    assert chainer_tagger.tag is tag
    assert chainer_tagger.load_model is load_model
    for name in chainer_tagger.__all__:
        assert name in dir(chainer_tagger)
        assert getattr(chainer_tagger, name) is not None
    with pytest.raises(AttributeError, match='no attribute .nothing'):
        chainer_tagger.nothing


# -- the import graph of the package -----------------------------------------

def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _is_module(name):
    path = ROOT.joinpath(*name.split('.'))
    return (path.with_suffix('.py').is_file()
            or (path / '__init__.py').is_file())


def _own(name):
    return name == 'chainer_tagger' or name.startswith('chainer_tagger.')


def _imports(tree):
    """``[(imported module, inside a function)]`` of one module's source:
    ``from package import submodule`` names the submodule."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                assert child.level == 0, 'relative import'
                for a in child.names:
                    sub = '{}.{}'.format(child.module, a.name)
                    found.append((sub if _is_module(sub) else child.module,
                                  inner))
            visit(child, inner)
    visit(tree, False)
    return [(name, inner) for name, inner in found if _own(name)]


def _late_imports(tree):
    """The names of calls to ``import_module`` / ``__import__``."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(
                node.func, 'attr', getattr(node.func, 'id', None))
            in ('import_module', '__import__')]


def _graph():
    """module -> the package's modules it imports, at module level, inside
    functions, or late through the two tables."""
    graph, trees = {}, {}
    for path in sorted(PACKAGE.rglob('*.py')):
        name = _module_name(path)
        trees[name] = ast.parse(path.read_text(), str(path))
        graph[name] = {m for m, _ in _imports(trees[name])}
    graph['chainer_tagger'] |= {
        t.split(':')[0] for t in chainer_tagger.PUBLIC_NAMES.values()}
    graph['chainer_tagger.cli'] |= {t.split(':')[0]
                                    for t in COMMANDS.values()}
    return graph, trees


def _cycle(graph):
    """One import cycle of ``graph`` as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = 'done'
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_graph_check_finds_a_cycle():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c',
                                                            'a']
    assert _cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) is None


def test_no_import_cycles_counting_late_imports():
    graph, _ = _graph()
    assert all(t in graph for targets in graph.values() for t in targets)
    assert _cycle(graph) is None


def test_own_modules_are_imported_late_only_through_the_two_tables():
    _, trees = _graph()
    inside = {name: [m for m, inner in _imports(tree) if inner]
              for name, tree in trees.items()}
    assert {k: v for k, v in inside.items() if v} == {}
    late = {name: _late_imports(tree) for name, tree in trees.items()}
    assert {k for k, v in late.items() if v} == {'chainer_tagger',
                                                 'chainer_tagger.cli'}
    for target in list(COMMANDS.values()) + list(
            chainer_tagger.PUBLIC_NAMES.values()):
        assert _is_module(target.split(':')[0]), target
