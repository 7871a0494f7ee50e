"""``tag`` and ``taggram``: scores of files, and of a file over time."""
import os
import sys

from tqdm import tqdm

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.audio import SCAN_RULE
from chainer_tagger.cli.common import (
    batch_options, check_output, check_window_options, decoder_delay_options,
    device_options, keras_options, model_options, positive_float,
    positive_int, precision_options, print_notes, print_stderr,
    progress_options, window_options, write_stdout)
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError
from chainer_tagger.inference import report, tag, taggram
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


def run_tag(args):
    check_window_options(args)
    if args.output:
        check_output(args.output, args.paths)
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


def taggram_format(args):
    """``--format``, or the one the extension of ``-o`` names."""
    if args.format is not None:
        return args.format
    return 'json' if os.path.splitext(args.output)[1].lower() == '.json' \
        else 'png'


def run_taggram(args):
    fmt = taggram_format(args)
    check_output(args.output, [args.path])
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
        args.path, len(data['windows']), args.output))
    return 0
