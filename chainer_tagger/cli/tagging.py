"""``tag`` and ``taggram``: scores of files, and of a file over time."""
import collections
import os
import sys

from tqdm import tqdm

from chainer_tagger.atomic_file import atomic_write, write_text_atomic
from chainer_tagger.audio import SCAN_RULE
from chainer_tagger.cli.common import (
    batch_options, check_outputs, check_window_options,
    decoder_delay_options, device_options, keras_options, model_options,
    positive_float, positive_int, precision_options, print_notes,
    print_stderr, progress_options, window_options, write_stdout)
from chainer_tagger.configuration import (FILE_TAGS_FIELD_PREFIX,
                                          FILE_TAGS_TOP)
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError, UsageError
from chainer_tagger.inference import report, tag, taggram
from chainer_tagger.inference.file_tags import SUPPORTED_RULE
from chainer_tagger.inference.library import LibraryRun
from chainer_tagger.inference.report import printable
from chainer_tagger.models import load_model

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
    p.set_defaults(run=run_tag)

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
    p.set_defaults(run=run_taggram)


def check_library_options(args):
    """A :class:`UsageError` for options of the library mode given
    without the one they depend on."""
    for option, needs in (('rehash', 'db'), ('retry_errors', 'db'),
                          ('write_genre', 'write_tags'),
                          ('dry_run', 'write_tags')):
        if getattr(args, option) and not getattr(args, needs):
            raise UsageError('--{} only applies with --{}'.format(
                option.replace('_', '-'), needs.replace('_', '-')))


def run_tag(args):
    check_window_options(args)
    check_library_options(args)
    # Before any work: neither the report nor the store may be a file the
    # run reads (an audio file a folder scan finds, the model file), nor
    # each other.
    check_outputs([('--db', args.db), ('-o', args.output)],
                  read=[args.model], scanned=args.paths)
    if args.db or args.distributed or args.write_tags:
        return run_library(args)
    results = tag(args.paths, model=args.model, batch_size=args.batch_size,
                  gpu=args.gpu, progress=not args.no_progress,
                  per_clip=args.per_clip, window=args.window, hop=args.hop,
                  aggregate=args.aggregate, keras=args.keras,
                  precision=args.precision,
                  decoder_delay=args.decoder_delay)
    k = args.top if args.top is not None else (
        10 if args.format == 'table' else None)
    text = report.render(results, args.format, k=k, percent=args.percent)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        write_stdout(text)
    print_notes(results)
    failed = [r for r in results if 'error' in r]
    if failed:
        print('{} of {} inputs could not be tagged'.format(
            len(failed), len(results)), file=sys.stderr)
        return 1
    return 0


def run_library(args):
    """``tag`` with a store, MPI processes or tags written into files
    (see :mod:`chainer_tagger.inference.library`)."""
    k = args.top if args.top is not None else (
        10 if args.format == 'table' else None)
    with LibraryRun(args.paths, model=args.model, db=args.db,
                    batch_size=args.batch_size, gpu=args.gpu,
                    window=args.window, hop=args.hop,
                    aggregate=args.aggregate, per_clip=args.per_clip,
                    keras=args.keras, precision=args.precision,
                    decoder_delay=args.decoder_delay,
                    rehash=args.rehash, retry_errors=args.retry_errors,
                    distributed=args.distributed,
                    progress=not args.no_progress) as run:
        summary = run.tag()
        if args.distributed:
            print_stderr('process {} of {}: tagged {} files in {:.1f} s'
                         .format(summary.rank, summary.processes,
                                 summary.tagged_here, summary.seconds))
        if not run.is_root:
            return 0
        results = _noted(run.results())
        pieces = report.chunks(results, args.format, k=k,
                               percent=args.percent)
        if args.output:
            with atomic_write(args.output, 'w') as f:
                for piece in pieces:
                    f.write(piece)
        else:
            for piece in pieces:
                write_stdout(piece)
        print_stderr(library_summary(summary, args.db))
        status = 1 if summary.failed else 0
        if args.write_tags:
            if write_file_tags(run, args) and not args.dry_run:
                status = 1
    return status


def _noted(results):
    """The results, each one's warnings and error printed on stderr as it
    passes."""
    for r in results:
        print_notes([r])
        yield r


def library_summary(summary, db):
    """The line that ends a library run: counts, time, files/s of the
    files tagged, and the time spent writing the store."""
    rate = summary.tagged / summary.seconds if summary.seconds else 0.0
    return ('{} files: {} reused, {} tagged ({:.1f} files/s), {} failed; '
            '{:.1f} s{}'.format(
                summary.files, summary.reused, summary.tagged, rate,
                summary.failed, summary.seconds,
                ', of which {:.2f} s writing {}'.format(
                    summary.store_seconds, db) if db else ''))


def write_file_tags(run, args):
    """Write (or with ``--dry-run`` list) the tags of every file; one
    line on stderr per file changed or failed, then the counts.  Returns
    the number of files that failed."""
    counts = collections.Counter()
    for out in run.write_tags(k=args.top, genre=args.write_genre,
                              dry_run=args.dry_run):
        counts[out.status] += 1
        if out.status in ('written', 'would write'):
            print_stderr('tags: {} {}: {}'.format(
                out.status, out.path, '; '.join(
                    '{} = {}'.format(name, ', '.join(values))
                    for name, values in out.changes.items())))
        elif out.status == 'failed':
            print_stderr('error: tags not written: {}: {}'.format(
                out.path, out.reason))
    skipped = counts['skipped']
    print_stderr('tags: {}{} unchanged, {} failed{}'.format(
        '{} would be written (dry run), '.format(counts['would write'])
        if args.dry_run else '{} written, '.format(counts['written']),
        counts['unchanged'], counts['failed'],
        ', {} skipped ({})'.format(skipped, SUPPORTED_RULE)
        if skipped else ''))
    return counts['failed']


def taggram_format(args):
    """``--format``, or the one the extension of ``-o`` names."""
    if args.format is not None:
        return args.format
    return 'json' if os.path.splitext(args.output)[1].lower() == '.json' \
        else 'png'


def run_taggram(args):
    fmt = taggram_format(args)
    check_outputs([('-o', args.output)], read=[args.path, args.model])
    if fmt == 'png':
        taggram.check_image_path(args.output)
    model = to_device(load_model(args.model, keras=args.keras,
                                 precision=args.precision), args.gpu)
    try:
        with tqdm(total=0, unit='window', desc='taggram',
                  disable=args.no_progress) as bar:
            data = taggram.taggram(model, args.path, args.hop,
                                   args.batch_size, bar=bar,
                                   decoder_delay=args.decoder_delay)
    except InputError as e:
        print_stderr('error: {}'.format(e))
        return 1
    data['model'] = args.model
    print_notes([data])
    if fmt == 'json':
        write_text_atomic(args.output, taggram.taggram_json(data))
    else:
        taggram.plot_taggram_of(data, args.output, k=args.top,
                                title='{} ({})'.format(
                                    taggram.short_name(args.path),
                                    args.model))
    write_stdout('{}: {} windows -> {}\n'.format(
        printable(args.path), len(data['windows']), printable(args.output)))
    return 0
