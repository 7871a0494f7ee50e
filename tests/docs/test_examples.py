"""Every example in the documentation runs, and prints what it shows.

Shell examples are the ``.. code-block:: console`` blocks of ``docs/``
and the ```` ```console ```` blocks of ``README.md``: each ``$ `` line is a
command (a line ending in ``\\`` continues it), the lines after it are
its expected output, compared like a doctest with ``...`` standing for
any text (and whitespace normalized) against what the command printed:
stdout alone, or stdout and stderr (without progress bars) one after the
other in either order, since a terminal interleaves them.  A command that fails must
show its ``error:`` line.  The blocks of one page run in order, in one
shell environment, in a fresh folder beside a link ``../shared`` to the
reference data, so the pages' ``export SHARED=../shared`` holds; the
test sets ``SHARED=../shared`` and ``GTZAN`` (a small GTZAN-layout folder
made of gtzan-mini's clips) for every page, and runs training examples with
the same command line on less data: that folder, and 2 epochs where the
recipe has 40 or 60 (``RECIPES``).

Blocks of ``bash`` (or ``sh``, ``shell``) are commands that cannot run here
(a network install, a GPU, a cluster); each must follow a comment
``.. not-run: WHY`` (in the README ``<!-- not-run: WHY -->``), which the
test checks.

``chainer-tagger`` commands without shell operators run in this process
through the entry point (``chainer_tagger.cli.main``), after bash expands
their arguments; everything else runs in bash with this Python's
``bin`` first on ``PATH``.  The Python examples (``>>>``) of the pages run
as doctests, in the same kind of folder.

``DOCS_EXAMPLES_SHOW=1`` prints every command's output (to write a page).
"""
import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs'
SHARED = Path(os.environ.get('CHAINER_TAGGER_SHARED',
                             ROOT.parent / 'shared')).resolve()
PAGES = sorted(p for p in DOCS.rglob('*.rst') if '_build' not in p.parts)
SHOW = os.environ.get('DOCS_EXAMPLES_SHOW') == '1'
#: Variables the test sets itself: the pages' own ``export`` of these is
#: skipped.
PROVIDED = ('SHARED', 'GTZAN')
#: Epochs of every recipe in the examples' training runs.
EPOCHS = 2
#: gtzan-mini clips per genre in the test's ``$GTZAN``.
CLIPS_PER_GENRE = 2

pytestmark = pytest.mark.shared

_PROGRESS = re.compile(r'\d+%\|')
_SHELL_OPERATORS = re.compile(r'[|;&<>`]|\$\(')


def console_blocks(path):
    """``[(line, [(command, expected output)])]`` of a page's console
    blocks (reStructuredText or Markdown)."""
    lines = path.read_text(encoding='utf8').splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r'\s*\.\. code-block:: console\s*$', line):
            start = i + 1
            # options and the blank line, then the indented body
            while start < len(lines) and (not lines[start].strip() or
                                          lines[start].strip().startswith(':')):
                start += 1
            indent = len(lines[start]) - len(lines[start].lstrip())
            end = start
            while end < len(lines) and (not lines[end].strip() or (
                    len(lines[end]) - len(lines[end].lstrip()) >= indent)):
                end += 1
            body = [x[indent:] for x in lines[start:end]]
            blocks.append((start + 1, parse_session(body)))
            i = end
        elif line.strip() == '```console':
            end = i + 1
            while lines[end].strip() != '```':
                end += 1
            blocks.append((i + 2, parse_session(lines[i + 1:end])))
            i = end + 1
        else:
            i += 1
    return blocks


def parse_session(body):
    """``[(command, expected)]`` of one block's lines."""
    steps = []
    i = 0
    while i < len(body):
        if not body[i].startswith('$ '):
            if body[i].strip():
                raise ValueError('output before any command: {!r}'.format(
                    body[i]))
            i += 1
            continue
        command = body[i][2:]
        while command.endswith('\\'):
            i += 1
            command = command[:-1] + '\n' + body[i]
        i += 1
        expected = []
        while i < len(body) and not body[i].startswith('$ '):
            expected.append(body[i])
            i += 1
        while expected and not expected[-1].strip():
            expected.pop()
        steps.append((command, '\n'.join(expected)))
    return steps


def clean_stderr(text):
    """stderr without progress bars (the text after each line's last
    carriage return, bar lines dropped)."""
    out = []
    for line in text.split('\n'):
        line = line.rsplit('\r', 1)[-1]
        if line.strip() and not _PROGRESS.search(line):
            out.append(line)
    return '\n'.join(out)


class Shell:
    """One page's shell: its environment and folder."""

    def __init__(self, folder, env):
        self.folder = folder
        self.env = env

    def bash(self, command, **kwargs):
        return subprocess.run(['bash', '-c', command], cwd=self.folder,
                              env=self.env, capture_output=True, text=True,
                              **kwargs)

    def export(self, command):
        """Apply ``export NAME=VALUE`` (bash expands the value)."""
        name = command.split()[1].split('=', 1)[0]
        if name in PROVIDED:
            return 0, '', ''
        out = self.bash(command + '\nprintf %s "${}"'.format(name))
        if out.returncode:
            return out.returncode, '', out.stderr
        self.env[name] = out.stdout
        return 0, '', ''

    def run(self, command):
        """``(status, stdout, cleaned stderr)`` of one command."""
        if re.match(r'export [A-Za-z_][A-Za-z0-9_]*=', command) and \
                '\n' not in command:
            return self.export(command)
        words = shlex.split(command, comments=True) if not \
            _SHELL_OPERATORS.search(command) else None
        if words and words[0] == 'chainer-tagger':
            argv = self.bash('printf "%s\\0" ' + command.split(None, 1)[1]
                             if len(words) > 1 else 'true').stdout
            return self.in_process([a for a in argv.split('\0') if a])
        env = dict(self.env)
        env['PATH'] = os.pathsep.join([os.path.dirname(sys.executable),
                                       env.get('PATH', '')])
        out = subprocess.run(['bash', '-c', command], cwd=self.folder,
                             env=env, capture_output=True, text=True)
        return out.returncode, out.stdout, clean_stderr(out.stderr)

    def in_process(self, argv):
        from chainer_tagger.cli import main
        stdout, stderr = io.StringIO(), io.StringIO()
        old_env, old_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.folder)
        try:
            with contextlib.redirect_stdout(stdout), \
                    contextlib.redirect_stderr(stderr):
                status = main(argv)
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
        return status, stdout.getvalue(), clean_stderr(stderr.getvalue())


def shows(expected, stdout, stderr):
    """Whether ``expected`` is what a terminal showed (see the module)."""
    stdout = stdout.rstrip('\n')
    candidates = [stdout]
    if stderr:
        candidates += [stdout + '\n' + stderr, stderr + '\n' + stdout]
    return any(CHECKER.check_output('\n' + expected + '\n', '\n' + got
                                    + '\n', FLAGS) for got in candidates)


@pytest.fixture(scope='module')
def gtzan(tmp_path_factory):
    """A GTZAN-layout folder of links to the first clips of each genre of
    gtzan-mini."""
    root = tmp_path_factory.mktemp('gtzan')
    for genre in sorted((SHARED / 'gtzan-mini' / 'genres').iterdir()):
        (root / 'genres' / genre.name).mkdir(parents=True)
        for clip in sorted(genre.iterdir())[:CLIPS_PER_GENRE]:
            os.symlink(clip, root / 'genres' / genre.name / clip.name)
    return root


def page_folder(tmp_path, name):
    """A fresh working folder with ``../shared`` beside it and, as in the
    repository's root, ``music-tagger-test.py``."""
    (tmp_path / 'shared').symlink_to(SHARED)
    work = tmp_path / name
    work.mkdir()
    (work / 'music-tagger-test.py').symlink_to(ROOT / 'music-tagger-test.py')
    return work


CHECKER = doctest.OutputChecker()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def pages_with(predicate):
    return [p for p in PAGES + [ROOT / 'README.md'] if predicate(p)]


@pytest.mark.parametrize(
    'page', pages_with(lambda p: console_blocks(p)),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples(page, tmp_path, gtzan, monkeypatch):
    from chainer_tagger.training.trainer import RECIPES
    for recipe in RECIPES.values():
        monkeypatch.setitem(recipe, 'epochs', EPOCHS)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('PYTEST')}
    env['GTZAN'] = str(gtzan)
    env['SHARED'] = '../shared'
    shell = Shell(page_folder(tmp_path, 'work'), env)
    failures = []
    for line, steps in console_blocks(page):
        for command, expected in steps:
            status, stdout, stderr = shell.run(command)
            got = stdout.rstrip('\n') + ('\n' + stderr if stderr else '')
            if SHOW:
                print('$ {}\n{}\n[status {}]'.format(command, got, status))
            where = '{}:{}: $ {}'.format(page.name, line, command)
            if status and 'error:' not in expected:
                failures.append('{}\nexit status {}:\n{}'.format(
                    where, status, got))
            elif not shows(expected, stdout, stderr):
                failures.append('{}\nexpected:\n{}\ngot:\n{}'.format(
                    where, expected, got))
    assert not failures, '\n\n'.join(failures)


def test_every_shell_block_runs_or_says_why():
    unmarked = []
    for page in PAGES:
        lines = page.read_text(encoding='utf8').splitlines()
        for i, line in enumerate(lines):
            if re.match(r'\s*\.\. code-block:: (bash|sh|shell)\s*$', line):
                before = [x for x in lines[:i] if x.strip()]
                if not (before and before[-1].strip().startswith(
                        '.. not-run:')):
                    unmarked.append('{}:{}'.format(page.name, i + 1))
    lines = (ROOT / 'README.md').read_text(encoding='utf8').splitlines()
    for i, line in enumerate(lines):
        if re.match(r'```(bash|sh|shell)\s*$', line):
            before = [x for x in lines[:i] if x.strip()]
            if not (before and before[-1].startswith('<!-- not-run:')):
                unmarked.append('README.md:{}'.format(i + 1))
    assert not unmarked, 'shell blocks without ".. not-run: WHY": {}'.format(
        ', '.join(unmarked))


@pytest.mark.parametrize(
    'page', pages_with(lambda p: '>>> ' in p.read_text(encoding='utf8')),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples(page, tmp_path, monkeypatch):
    monkeypatch.chdir(page_folder(tmp_path, 'work'))
    monkeypatch.setenv('SHARED', '../shared')
    text = page.read_text(encoding='utf8')
    if page.suffix == '.md':  # a fence would read as expected output
        text = re.sub(r'^```.*$', '', text, flags=re.M)
    test = doctest.DocTestParser().get_doctest(text, {}, page.name,
                                               str(page), 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test)
    assert result.failed == 0, '{} of {} examples of {} failed'.format(
        result.failed, result.attempted, page.name)
