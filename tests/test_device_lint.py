"""Inputs reach a link's device through ``device.send``, never through the
current CuPy device (``xp.asarray`` puts an array on the *current* GPU,
which is not the model's with ``--gpu 1``); links, models and functions
compute on their inputs with Chainer functions or the array's module,
never NumPy (which fails or silently copies on a GPU), except where they
declare that they run on host arrays only
(:func:`chainer_tagger.functions.kernel_choice.host_only`, or a module's
``HOST_ONLY = True``: the CPU kernels, and the host side of transfers).

The lint reads every function of ``links/``, ``models/`` and
``functions/`` (no hand-kept list of names): a call of NumPy (``np.f``,
``numpy.f``, or a name imported from NumPy) that makes or converts an
array is an offence outside host-only code, unless it builds a constant
handed straight to ``device.send`` or runs in ``__init__`` (a link is
built on the host, then moved by ``to_device``).  A second check runs the
models' inference and training steps on the graph a GPU runs
(``generic_kernels()``) with NumPy's conversions watched, for what the
source does not show (an alias, a helper)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'chainer_tagger'
FOLDERS = ('links', 'models', 'functions')
#: NumPy names that make no array from a value: dtypes and their queries.
NOT_ARRAYS = {'dtype', 'float16', 'float32', 'float64', 'int8', 'int16',
              'int32', 'int64', 'uint8', 'bool_', 'result_type',
              'promote_types', 'finfo', 'iinfo', 'can_cast'}
#: Methods whose body Chainer runs on NumPy arrays only.
CHAINER_CPU_METHODS = {'forward_cpu', 'backward_cpu'}
#: Built on the host: a link's constructor (moved later by to_device).
HOST_METHODS = {'__init__'}


def _modules():
    for folder in FOLDERS:
        yield from sorted((PACKAGE / folder).glob('*.py'))


def _declares_host_only_module(tree):
    return any(isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == 'HOST_ONLY' for t in node.targets)
        and isinstance(node.value, ast.Constant) and node.value.value is True
        for node in tree.body)


def _decorated_host_only(function):
    for d in function.decorator_list:
        name = d.attr if isinstance(d, ast.Attribute) else getattr(
            d, 'id', None)
        if name == 'host_only':
            return True
    return False


def _numpy_names(tree):
    """Module aliases of NumPy, and names imported from it."""
    modules, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == 'numpy' or alias.name.startswith('numpy.'):
                    modules.add(alias.asname or alias.name.split('.')[0])
        elif isinstance(node, ast.ImportFrom) and node.module and (
                node.module == 'numpy' or node.module.startswith('numpy.')):
            names.update(a.asname or a.name for a in node.names)
    return modules, names


def _numpy_function(call, modules, names):
    """The NumPy function a call calls (``'asarray'``), or None."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in names:
        return func.id
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name) and func.id in modules and parts:
        return parts[0]  # np.lib.stride_tricks.as_strided: as_strided
    return None


def _sent_to_a_device(call, parents):
    parent = parents.get(call)
    return isinstance(parent, ast.Call) and isinstance(
        parent.func, ast.Attribute) and parent.func.attr == 'send' and \
        call in parent.args


def offences(source, filename='<source>'):
    """``'file:line in function: np.f'`` for each NumPy array call on the
    graph path of ``source``."""
    tree = ast.parse(source)
    if _declares_host_only_module(tree):
        return []
    modules, names = _numpy_names(tree)
    parents = {child: node for node in ast.walk(tree)
               for child in ast.iter_child_nodes(node)}
    found = []

    def visit(node, where, host):
        for child in ast.iter_child_nodes(node):
            inner, inner_host = where, host
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name if where == '<module>' else \
                    '{}.{}'.format(where, child.name)
                inner_host = host or _decorated_host_only(child) or \
                    child.name in CHAINER_CPU_METHODS | HOST_METHODS
            elif isinstance(child, ast.ClassDef):
                inner = child.name
            elif isinstance(child, ast.Call) and not host \
                    and where != '<module>':
                name = _numpy_function(child, modules, names)
                if name is not None and name not in NOT_ARRAYS and \
                        not _sent_to_a_device(child, parents):
                    found.append('{}:{} in {}: {}'.format(
                        filename, child.lineno, where,
                        ast.unparse(child.func)))
            visit(child, inner, inner_host)
    visit(tree, '<module>', False)
    return found


def test_no_array_is_put_on_the_current_device():
    offenders = [
        '{}:{}'.format(path.relative_to(PACKAGE.parent), n)
        for path in PACKAGE.rglob('*.py')
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if 'xp.asarray(' in line]
    assert offenders == []


def test_graph_code_uses_no_numpy():
    found = []
    for path in _modules():
        found += offences(path.read_text(),
                          str(path.relative_to(PACKAGE.parent)))
    assert found == []


def test_every_folder_is_read():
    """The walk sees the graph code the issue named (no silent skip)."""
    read = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {'functions/standardization.py', 'models/music_tagger_crnn.py',
            'links/keras_gru.py', 'functions/conv_block_2d.py'} <= read


GRAPH = '''
import numpy as np
from numpy import asarray as to_array
import numpy


def standardize(h, mean, scale):
    return (h - np.asarray(mean)) / scale


class Tagger:
    def __init__(self):
        self.mean = np.zeros(3)            # built on the host: fine

    def recurrent(self, h):
        h = self.gru(numpy.array(h))
        return to_array(h)

    def head(self, h):
        def inner(v):
            return np.stack([v, v])
        self.mean[...] = self.device.send(np.ones(3, np.float32))  # fine
        return inner(h).astype(np.float32)       # a dtype: fine

    def window(self, x):
        return np.lib.stride_tricks.as_strided(x, (2,), (4,))

    def forward_cpu(self, inputs):
        return np.maximum(inputs[0], 0),       # Chainer's CPU method: fine


@host_only
def kernel(x):
    def one_clip(i):
        return np.empty(3)                 # inside a host-only function
    return np.ascontiguousarray(x)
'''


def test_the_lint_finds_what_it_looks_for():
    assert offences(GRAPH, 'g.py') == [
        'g.py:8 in standardize: np.asarray',
        'g.py:16 in Tagger.recurrent: numpy.array',
        'g.py:17 in Tagger.recurrent: to_array',
        'g.py:21 in Tagger.head.inner: np.stack',
        'g.py:26 in Tagger.window: np.lib.stride_tricks.as_strided']
    assert offences('HOST_ONLY = True\n' + GRAPH) == []


@pytest.mark.parametrize('module,anchor,insert', [
    # The head standardization, and the CRNN's recurrent part.
    ('functions/standardization.py', '    mean = F.broadcast_to(mean, '
     'h.shape)\n', '    h = np.asarray(h)\n'),
    ('models/music_tagger_crnn.py', '        return self.gru2(self.gru1(h))'
     '\n', '        h = np.asarray(h)\n'),
])
def test_numpy_inserted_on_the_graph_path_is_found(module, anchor, insert):
    """The issue's examples, inserted into the real modules' source."""
    source = (PACKAGE / module).read_text()
    assert offences(source) == []
    assert anchor in source
    broken = source.replace(anchor, insert + anchor)
    assert [line.split(': ')[-1] for line in offences(broken)] == [
        'np.asarray']


# -- The same rule, watched while the graph a GPU runs runs ---------------

#: NumPy's conversions.  (Not its other functions: on the CPU the graph's
#: ``xp.mean``, ``xp.zeros``... are NumPy's too, and rightly so.)
WATCHED = ('array', 'asarray', 'asanyarray', 'ascontiguousarray',
           'asfortranarray')
GRAPH_PACKAGES = tuple('chainer_tagger.{}.'.format(f) for f in FOLDERS)


def _host_only_code():
    """Code objects of every function declared host-only (nested ones
    too), found through the runtime marker."""
    import importlib
    import inspect
    codes = set()

    def add(code):
        codes.add(code)
        for const in code.co_consts:
            if inspect.iscode(const):
                add(const)
    for path in _modules():
        module = importlib.import_module('chainer_tagger.{}.{}'.format(
            path.parent.name, path.stem))
        for value in vars(module).values():
            members = vars(value).values() if inspect.isclass(value) \
                else [value]
            for f in members:
                if getattr(f, 'host_only', False) and hasattr(f, '__code__'):
                    add(f.__code__)
                elif inspect.isfunction(f):  # a nested host-only def
                    for const in f.__code__.co_consts:
                        if inspect.iscode(const):
                            codes.update(_nested_host_only(f, const))
    return codes


def _nested_host_only(function, code):
    """Nested defs are decorated at run time only: read the decorator from
    the enclosing function's source."""
    import inspect
    import textwrap
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    names = {node.name for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef) and
             _decorated_host_only(node)} - {function.__name__}
    found = []

    def add(c):
        found.append(c)
        for const in c.co_consts:
            if inspect.iscode(const):
                add(const)
    if code.co_name in names:
        add(code)
    return found


@pytest.fixture
def numpy_watch(monkeypatch):
    """NumPy's conversions, recording each call made from graph code of
    the package (not host-only, not a constructor, not ``*_cpu``): what
    the AST walk cannot see, such as a call through an alias or a
    helper."""
    import sys
    import numpy
    host = _host_only_code()
    calls = []

    def watch(name, function):
        def watched(*args, **kwargs):
            frame = sys._getframe(1)
            module = frame.f_globals.get('__name__', '')
            code = frame.f_code
            if module.startswith(GRAPH_PACKAGES) and not frame.f_globals.get(
                    'HOST_ONLY') and code not in host and code.co_name not in \
                    CHAINER_CPU_METHODS | HOST_METHODS:
                calls.append('{}:{} in {}: numpy.{}'.format(
                    module, frame.f_lineno, code.co_name, name))
            return function(*args, **kwargs)
        return watched
    for name in WATCHED:
        monkeypatch.setattr(numpy, name, watch(name, getattr(numpy, name)))
    return calls


def test_the_generic_graph_calls_no_numpy(numpy_watch):
    """Inference and training steps of the models on the graph a GPU runs
    (``generic_kernels()``), CRNN head standardization and GRUs included,
    with NumPy watched: no call from graph code."""
    import numpy as np
    import chainer
    import chainer.functions as F
    from chainer_tagger.functions import generic_kernels
    from chainer_tagger.models import (Music2Vec, MusicTaggerCNN,
                                       MusicTaggerCRNN)
    rng = np.random.RandomState(0)
    mel = rng.normal(size=(2, 1, 96, 1366)).astype(np.float32)
    crnn = MusicTaggerCRNN(standardized_body=True, bn_mode=2)
    with generic_kernels():
        MusicTaggerCNN().predict(mel)
        crnn.predict(mel)
        assert numpy_watch == [], "\n".join(numpy_watch)  # (watch: below)
        with chainer.using_config('train', True):
            m2v = Music2Vec(dropout=0.5)
            wave = rng.uniform(-0.3, 0.3, (2, m2v.clip_input.n_samples))
            for net, x in ((crnn, mel), (m2v, wave.astype(np.float32))):
                loss = F.softmax_cross_entropy(
                    net.logits(x), np.zeros(2, np.int32)) if \
                    net.exclusive_classes else F.sum(net.logits(x))
                net.cleargrads()
                loss.backward()
    assert numpy_watch == []


def test_the_watch_sees_numpy_in_graph_code(numpy_watch):
    import numpy as np
    from chainer_tagger.functions.standardization import \
        standardization_statistics
    graph_code = {'__name__': 'chainer_tagger.functions.leaky', 'np': np}
    exec(compile('def standardize(h):\n    return np.asarray(h)\n',
                 'leaky.py', 'exec'), graph_code)
    graph_code['standardize'](np.ones(3))
    standardization_statistics(np.ones((2, 3)), 1.0)  # host-only: fine
    assert numpy_watch == [
        'chainer_tagger.functions.leaky:2 in standardize: numpy.asarray']
