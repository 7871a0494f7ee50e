"""``tag`` and ``taggram``: scores of files, and of a file over time.

The commands' arguments; what they do is
:mod:`chainer_tagger.cli.run.tagging`.
"""
from chainer_tagger.cli.common import (
    batch_options, decoder_delay_options, device_options, keras_options,
    model_options, positive_float, positive_int, precision_options,
    progress_options, window_options)
from chainer_tagger.configuration import (DEFAULT_EMBED_MODEL,
                                          FILE_TAGS_FIELD_PREFIX,
                                          FILE_TAGS_TOP, SCAN_RULE)

NPY_RULE = ('a .npy melgram has shape (96, 1366), (1, 96, 1366) or '
            '(1, 1, 96, 1366) and holds integers or floats (converted to '
            'float32; float64 stays float64 for --precision float64); '
            'complex or boolean arrays and NaN or infinite values are '
            'refused')


def add_commands(sub):
    model = model_options('crnn-msd', 'registry name or model file')
    reading = [keras_options(), precision_options(), decoder_delay_options()]
    p = sub.add_parser(
        'tag', help='tag audio files, folders or .npy melgrams',
        description='Tag audio files, folders or .npy melgrams.  Each '
                    'result lists its warnings (decoding stopped early, a '
                    'window that is mostly padding, silence) in every '
                    'format and on stderr.  Exit status: 0 all tagged, 1 '
                    'some inputs failed (each reported), 2 the command '
                    'could not run.',
        parents=[model, batch_options(16), device_options(),
                 progress_options(), window_options()] + reading)
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='audio file, folder or .npy melgram; {}; {}'.format(
                       SCAN_RULE, NPY_RULE))
    p.add_argument('--top', '-k', type=positive_int, default=None,
                   metavar='K',
                   help='keep the K best tags per file (default: 10 for '
                        'tables, all for json/csv)')
    p.add_argument('--format', '-f', choices=('table', 'json', 'csv'),
                   default='table',
                   help='table, json (strict JSON; with --percent the key '
                        "is 'percent') or csv (default: table)")
    p.add_argument('--output', '-o', metavar='FILE',
                   help='write the results here, replacing the file '
                        '(default: stdout); never one of the inputs')
    p.add_argument('--percent', action='store_true',
                   help="scores as percentages of their sum (the 2018 "
                        "port's output; default: scores in [0, 1])")
    p.add_argument('--per-clip', action='store_true',
                   help='BN-mode-2 models (cnn0-msd, rnn0-msd): normalise '
                        'each clip on its own (default: on its batch, as '
                        'Keras did, so scores depend on the batch mates)')
    library = p.add_argument_group(
        'a whole library',
        'Keep every result in a database, tag on several processes, write '
        'the tags into the files.  The output (stdout or -o) lists every '
        "file's result, reused or new, exactly as a run without --db "
        'would.')
    library.add_argument(
        '--db', metavar='PATH',
        help='the library store (SQLite, created when missing): each batch '
             'is committed as it finishes; files whose entry is current '
             '(same size and mtime, same model, weights, settings and '
             'window) are not tagged again, so a run that was stopped or '
             'killed resumes where it was')
    library.add_argument(
        '--embed-model', metavar='NAME', default=None,
        help='with --db: also store each file\'s embedding by this model '
             '(registry name or model file; its centre window), for '
             'chainer-tagger similar; embedded once and resumed like the '
             "results; 'none' stores none (default: {}, chosen by "
             'measurement)'.format(DEFAULT_EMBED_MODEL))
    library.add_argument(
        '--rehash', action='store_true',
        help='with --db: also compare the sha256 of each file\'s content '
             '(reads every file; catches a file replaced by one of the same '
             'size and mtime)')
    library.add_argument(
        '--retry-errors', action='store_true',
        help='with --db: tag again the files whose stored result is an '
             'error (default: they are reported as stored)')
    library.add_argument(
        '--distributed', action='store_true',
        help='share the files among the MPI processes (start with mpiexec '
             '-n N, or your cluster\'s launcher); rank 0 alone writes the '
             'database and the output; with --gpu each process takes the '
             'GPU of its rank on its node')
    library.add_argument(
        '--write-tags', action='store_true',
        help='write the best tags (--top, default {}) and their scores into '
             "each file's metadata, in the field {}<model>: ID3 TXXX (mp3), "
             'Vorbis comment (flac, ogg, opus), freeform atom (m4a); the '
             'audio data stays bit-identical (checked before the file is '
             'replaced by its tagged copy); a file changed since it was '
             'tagged, or read-only, is reported and left as it was'.format(
                 FILE_TAGS_TOP, FILE_TAGS_FIELD_PREFIX))
    library.add_argument(
        '--write-genre', action='store_true',
        help='with --write-tags: also set the standard genre field to the '
             'best tag')
    library.add_argument(
        '--dry-run', action='store_true',
        help='with --write-tags: list what would change on stderr, write '
             'nothing into the audio files')

    p = sub.add_parser(
        'taggram', help='tags over time of a whole file: a heat map '
                        '(PNG, SVG, PDF...) or per-window JSON',
        parents=[model, batch_options(16), device_options(),
                 progress_options()] + reading)
    p.add_argument('path', metavar='FILE', help='an audio file')
    p.add_argument('--hop', type=positive_float, default=None,
                   metavar='SECONDS',
                   help='seconds between windows (default: the window '
                        'length, 29.12 s)')
    p.add_argument('--top', '-k', type=positive_int, default=10,
                   metavar='K',
                   help='tags shown in the heat map: the K best on average, '
                        'windows weighted by their share of real audio '
                        '(default: 10)')
    p.add_argument('--format', '-f', choices=('png', 'json'), default=None,
                   help="'json': every window's start and scores; 'png': "
                        'a heat map (default: from the extension of -o: '
                        '.json gives json, an image extension that image '
                        'format)')
    p.add_argument('-o', '--output', required=True,
                   metavar='taggram.png|.svg|.json',
                   help='the file to write (its folder is created)')
