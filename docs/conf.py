"""Sphinx configuration of chainer-tagger's documentation.

Built by ``make docs`` (``sphinx-build -W --keep-going -n``: every warning,
broken cross-references included, fails the build).  Two small extensions
live in ``docs/_ext``: ``cli_reference`` walks the command line's argparse
parsers, and ``benchmark_results`` renders the measured tables of
``benchmarks/results/*.json``.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / '_ext'))

import chainer_tagger  # noqa: E402

project = 'chainer-tagger'
author = 'chainer-tagger contributors'
copyright = '2016 Keunwoo Choi (the Keras models); chainer-tagger contributors'
version = release = chainer_tagger.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'cli_reference',
    'benchmark_results',
]

#: Where ``.. benchmark-results::`` reads its files.
benchmark_results_dir = str(ROOT / 'benchmarks' / 'results')

exclude_patterns = ['_build']
root_doc = 'index'
nitpicky = True
# Types of other projects, named in docstrings; without intersphinx (the
# build must work offline) they cannot be linked.
nitpick_ignore_regex = [
    ('py:class', r'(numpy|np|chainer|cupy|onnx|sqlite3|pathlib|os|argparse|'
                 r'collections|typing|concurrent)\..*'),
    ('py:class', r'(array|ndarray|array-like|array_like|optional|callable|'
                 r'iterable|sequence|mapping|generator|iterator|file-like|'
                 r'path-like|path|str or path|int or None|float or None|'
                 r'dtype|Variable|Chain|Link|Function|FunctionNode|'
                 r'bool|int|float|str|bytes|dict|list|tuple|set|None|'
                 r'object|type|Path|Exception|Warning)'),
    ('py:class', r'.*\b(of|or|and|default|shape|each)\b.*'),
    ('py:class', r'[^.]*'),  # free-text types of numpy-style docstrings
    # A target that a docstring breaks across two lines.
    ('py:(class|func|data)', r'.*\.\s+\S+'),
    # Names relative to the class of the docstring that uses them.
    ('py:(func|meth|data)', r'[A-Za-z_]+'),
]

autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': False}
autodoc_typehints = 'none'
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

html_theme = 'furo'
html_title = 'chainer-tagger {}'.format(release)
html_static_path = []
pygments_style = 'sphinx'
# Quotes and ellipses only: '--' in option names and help texts stays two
# hyphens.
smartquotes_action = 'qe'
