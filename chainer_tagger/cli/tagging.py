"""``tag`` and ``taggram``: scores of files, and of a file over time."""
import sys

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.cli.common import (
    batch_options, check_positive, decoder_delay_options, device_options,
    keras_options, model_options, precision_options, progress_options,
    window_options)
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError
from chainer_tagger.inference import report, tag, taggram
from chainer_tagger.models import load_model


def add_commands(sub):
    model = model_options('crnn-msd', 'registry name or model file')
    reading = [keras_options(), precision_options(), decoder_delay_options()]
    p = sub.add_parser(
        'tag', help='tag audio files, folders or .npy melgrams',
        parents=[model, batch_options(16), device_options(),
                 progress_options(), window_options()] + reading)
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='audio file, folder (searched recursively) or '
                        '.npy melgram of shape (96, 1366) or (1, 1, 96, 1366)')
    p.add_argument('--top', '-k', type=int, default=None,
                   help='keep the K best tags per file (default: 10 for '
                        'tables, all for json/csv)')
    p.add_argument('--format', '-f', choices=('table', 'json', 'csv'),
                   default='table', help='(default: table)')
    p.add_argument('--output', '-o', help='write here instead of stdout')
    p.add_argument('--percent', action='store_true',
                   help="scores as percentages of their sum (the 2018 "
                        "port's output)")
    p.add_argument('--per-clip', action='store_true',
                   help='BN-mode-2 models: normalise each clip on its own '
                        'instead of on its batch')
    p.add_argument('--aggregate', choices=('mean', 'max'), default='mean',
                   help='how --window full combines the windows (default: '
                        'mean)')
    p.set_defaults(run=run_tag)

    p = sub.add_parser(
        'taggram', help='tags over time of a whole file: a heat map (PNG) '
                        'or per-window JSON',
        parents=[model, batch_options(16), device_options()] + reading)
    p.add_argument('path', metavar='FILE')
    p.add_argument('--hop', type=float, default=None,
                   help='seconds between windows (default: the window '
                        'length, 29.12 s)')
    p.add_argument('--top', '-k', type=int, default=10,
                   help='tags shown in the heat map: the K best on average '
                        '(default: 10)')
    p.add_argument('--format', '-f', choices=('png', 'json'), default='png',
                   help='(default: png)')
    p.add_argument('-o', '--output', required=True,
                   metavar='taggram.png|.json')
    p.set_defaults(run=run_taggram)


def run_tag(args):
    check_positive(args, 'batch_size', 'hop')
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
        sys.stdout.write(text)
    failed = [r for r in results if 'error' in r]
    for r in failed:
        print('error: {}'.format(r['error']), file=sys.stderr)
    if failed:
        print('{} of {} inputs could not be tagged'.format(
            len(failed), len(results)), file=sys.stderr)
        return 1
    return 0


def run_taggram(args):
    check_positive(args, 'hop')
    model = to_device(load_model(args.model, keras=args.keras,
                                 precision=args.precision), args.gpu)
    try:
        data = taggram.taggram(model, args.path, args.hop, args.batch_size,
                               args.decoder_delay)
    except InputError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    data['model'] = args.model
    if args.format == 'json':
        write_text_atomic(args.output, taggram.taggram_json(data))
    else:
        taggram.plot_taggram_of(data, args.output, k=args.top,
                                title='{} ({})'.format(args.path, args.model))
    print('{}: {} windows -> {}'.format(args.path, len(data['windows']),
                                        args.output))
    return 0
