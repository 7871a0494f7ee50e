"""``similar``: "more like this" from a library store.

The command's arguments; what it does is
:mod:`chainer_tagger.cli.run.similar`.
"""
from chainer_tagger.cli.common import (batch_options, decoder_delay_options,
                                       device_options, positive_int)
from chainer_tagger.configuration import DEFAULT_EMBED_MODEL, SIMILAR_TOP


def add_commands(sub):
    p = sub.add_parser(
        'similar', help='the stored files most like each given file',
        description='For each FILE, the stored files of a library (tag '
                    '--db) that sound most like it, best first, the file '
                    'itself left out.  Similarity is the cosine of the '
                    "files' embeddings, standardised over the library and "
                    'projected on its principal axes.  A file not in the '
                    'store (or changed since) is embedded on the fly.  '
                    'Exit status: 0 done, 1 some FILE could not be '
                    'embedded, 2 the command could not run.',
        parents=[batch_options(8), device_options(),
                 decoder_delay_options()])
    p.add_argument('paths', nargs='+', metavar='FILE',
                   help='audio files, in the store or not')
    p.add_argument('--db', required=True, metavar='PATH',
                   help='the library store, made by tag --db')
    p.add_argument('-k', '--top', type=positive_int, default=SIMILAR_TOP,
                   metavar='K', dest='k',
                   help='neighbours per file (default: {})'.format(
                       SIMILAR_TOP))
    p.add_argument('--format', '-f', choices=('table', 'json', 'csv'),
                   default='table',
                   help='table; json (a list with one object per FILE: '
                        '{"path", "neighbours": [{"path", "similarity"}]}); '
                        'csv (query,rank,path,similarity) (default: table)')
    p.add_argument('--output', '-o', metavar='FILE',
                   help='write the answer here, replacing the file '
                        '(default: stdout)')
    p.add_argument('--embed-model', metavar='NAME', default=None,
                   help='whose stored embeddings to search: a registry '
                        'name or model file, as given to tag --db '
                        '--embed-model (default: {} when stored, else the '
                        'model with the most)'.format(DEFAULT_EMBED_MODEL))
