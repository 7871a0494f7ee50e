"""What ``tag`` and ``taggram`` do (their arguments:
:mod:`chainer_tagger.cli.tagging`)."""
import collections
import os
import sys

from tqdm import tqdm

from chainer_tagger.atomic_file import atomic_write, write_text_atomic
from chainer_tagger.cli.common import (check_window_options, print_notes,
                                       print_stderr, write_stdout)
from chainer_tagger.cli.run.outputs import check_outputs
from chainer_tagger.configuration import DEFAULT_EMBED_MODEL
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError, UsageError
from chainer_tagger.escapes import printable
from chainer_tagger.inference import report, tag, taggram
from chainer_tagger.library.file_tags import SUPPORTED_RULE
from chainer_tagger.library.runner import LibraryRun
from chainer_tagger.models import load_model


def check_library_options(args):
    """A :class:`UsageError` for options of the library mode given
    without the one they depend on."""
    for option, needs in (('rehash', 'db'), ('retry_errors', 'db'),
                          ('embed_model', 'db'),
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
                  read=[args.model] + ([args.embed_model] if args.embed_model
                                       else []), scanned=args.paths)
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
    (see :mod:`chainer_tagger.library.runner`)."""
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
                    progress=not args.no_progress,
                    embed_model=embed_model_of(args)) as run:
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
        if summary.embedded:
            print_stderr('embeddings: {} files embedded by {}'.format(
                summary.embedded, run.embed_identity.name))
        status = 1 if summary.failed else 0
        if args.write_tags:
            if write_file_tags(run, args) and not args.dry_run:
                status = 1
    return status


def embed_model_of(args):
    """The model whose embeddings a run with ``--db`` stores:
    ``--embed-model`` (``none``: none), by default
    :data:`~chainer_tagger.configuration.DEFAULT_EMBED_MODEL`; none without
    ``--db``."""
    if not args.db or args.embed_model == 'none':
        return None
    return args.embed_model or DEFAULT_EMBED_MODEL


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
