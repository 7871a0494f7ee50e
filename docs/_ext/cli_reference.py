"""``.. cli-reference::``: the command line's reference, from its parsers.

Walks the parser that ``chainer-tagger`` itself builds
(:func:`chainer_tagger.cli.build_parser`), so the reference cannot drift
from the program: for each command its usage line, its description and
every argument as a Sphinx ``option`` (so pages can link to
``:option:`chainer-tagger tag --db```), under the argument groups the
parser shows in ``--help``.  Help texts are taken after argparse expands
them (``%(default)s``) and are escaped, never read as reStructuredText.

Options of the directive: ``:command: NAME`` documents one command only
(default: all, in the order ``--help`` lists them).
"""
import argparse
import re

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_SPECIAL = re.compile(r'([\\`*_|\[\]<>])')


def escape(text):
    """``text`` as reStructuredText that shows it literally."""
    return _SPECIAL.sub(r'\\\1', ' '.join(text.split()))


def subcommands(parser):
    """``[(name, one-line help, parser)]`` of a parser's sub-commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return [(name, helps.get(name, ''), sub)
                    for name, sub in action.choices.items()]
    return []


def signature(action, formatter):
    """The ``.. option::`` signature of an argument: ``--out DIR, -o DIR``
    or a positional's metavar."""
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ', '.join(action.option_strings)
    metavar = formatter._format_args(action, action.dest.upper())
    metavar = metavar.replace(' ', '_')  # one token per option argument
    return ', '.join('{} {}'.format(o, metavar)
                     for o in action.option_strings)


def option_lines(parser):
    """reStructuredText for every argument of ``parser``, by group."""
    formatter = parser._get_formatter()
    lines = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help is not argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        lines += ['.. rubric:: ' + escape(group.title.capitalize()), '']
        for action in actions:
            lines += ['.. option:: ' + signature(action, formatter), '']
            text = formatter._expand_help(action) if action.help else ''
            if action.required and action.option_strings:
                text = (text + ' (required)').strip()
            if text:
                lines += ['   ' + escape(text), '']
    return lines


def command_lines(root, name, summary, parser):
    """reStructuredText of one command."""
    prog = parser.prog
    title = '``{}``'.format(prog)
    lines = [title, '-' * len(title), '']
    if summary and not parser.description:
        lines += [escape(summary[0].upper() + summary[1:]) + '.', '']
    lines += ['.. code-block:: text', '']
    lines += ['   ' + line for line in
              parser.format_usage().rstrip().splitlines()]
    lines += ['']
    if parser.description:
        for paragraph in parser.description.split('\n\n'):
            lines += [escape(paragraph), '']
    lines += ['.. program:: ' + prog, '']
    lines += option_lines(parser)
    if parser.epilog:
        lines += [escape(parser.epilog), '']
    return lines


class CliReference(SphinxDirective):
    has_content = False
    option_spec = {'command': directives.unchanged}

    def run(self):
        from chainer_tagger.cli import build_parser
        root = build_parser()
        wanted = self.options.get('command')
        lines = []
        if not wanted:
            lines += ['.. program:: ' + root.prog, '']
            lines += option_lines(root)
        for name, summary, parser in subcommands(root):
            if wanted in (None, name):
                lines += command_lines(root, name, summary, parser)
        if wanted and len(lines) == 0:
            raise self.error('no command {!r}'.format(wanted))
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(
            self.state, StringList(lines, source='<cli-reference>'),
            container)
        return container.children


def setup(app):
    app.add_directive('cli-reference', CliReference)
    return {'version': '1', 'parallel_read_safe': True}
