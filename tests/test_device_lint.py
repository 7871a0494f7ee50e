"""Inputs reach a link's device through ``device.send``, never through the
current CuPy device (``xp.asarray`` puts an array on the *current* GPU,
which is not the model's with ``--gpu 1``); links and models compute on
their inputs with Chainer functions, never NumPy (which fails or silently
copies on a GPU); only the CPU kernels in ``functions/`` use NumPy."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'chainer_tagger'
#: Methods that run on a link's inputs.
GRAPH_METHODS = {'forward', 'features', 'logits', 'head', 'body', 'scenes',
                 'embed', 'conv_bn_elu_pool_2d', 'conv_bn_relu_pool_1d'}


def _modules(*folders):
    for folder in folders:
        yield from sorted((PACKAGE / folder).glob('*.py'))


def test_no_array_is_put_on_the_current_device():
    offenders = [
        '{}:{}'.format(path.relative_to(PACKAGE.parent), n)
        for path in PACKAGE.rglob('*.py')
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if 'xp.asarray(' in line]
    assert offenders == []


def _numpy_calls(function):
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(
                node.func, ast.Attribute):
            base = node.func
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in ('np', 'numpy'):
                yield node.lineno


def test_graph_methods_use_no_numpy():
    offenders = []
    for path in _modules('links', 'models', 'functions'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and \
                    node.name in GRAPH_METHODS:
                offenders += ['{}:{} in {}'.format(path.name, line, node.name)
                              for line in _numpy_calls(node)]
    assert offenders == []


def test_the_lint_finds_what_it_looks_for():
    tree = ast.parse('def forward(self, x):\n    return np.exp(x)\n')
    assert list(_numpy_calls(tree.body[0])) == [2]
