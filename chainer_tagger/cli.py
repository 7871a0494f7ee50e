"""The ``chainer-tagger`` command."""
import argparse
import sys


def _add_tag(sub):
    p = sub.add_parser('tag', help='tag audio files, folders or .npy melgrams')
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='audio file, folder (searched recursively) or '
                        '.npy melgram of shape (96, 1366) or (1, 1, 96, 1366)')
    p.add_argument('--model', '-m', default='crnn-msd',
                   help='registry name or model file (default: crnn-msd)')
    p.add_argument('--top', '-k', type=int, default=None,
                   help='keep the K best tags per file (default: 10 for '
                        'tables, all for json/csv)')
    p.add_argument('--format', '-f', choices=('table', 'json', 'csv'),
                   default='table')
    p.add_argument('--output', '-o', help='write here instead of stdout')
    p.add_argument('--batch-size', '-b', type=int, default=16)
    p.add_argument('--gpu', type=int, default=None, help='CUDA device id')
    p.add_argument('--percent', action='store_true',
                   help="scores as percentages of their sum (the 2018 "
                        "port's output)")
    p.add_argument('--per-clip', action='store_true',
                   help='BN-mode-2 models: normalise each clip on its own '
                        'instead of on its batch')
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(run=_run_tag)


def _run_tag(args):
    from chainer_tagger import report
    from chainer_tagger.tagging import tag
    if args.batch_size < 1:
        raise SystemExit('error: --batch-size must be at least 1')
    results = tag(args.paths, model=args.model, batch_size=args.batch_size,
                  gpu=args.gpu, progress=not args.no_progress,
                  per_clip=args.per_clip)
    k = args.top if args.top is not None else (
        10 if args.format == 'table' else None)
    text = report.render(results, args.format, k=k, percent=args.percent)
    if args.output:
        report.write_atomic(args.output, text)
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


def _add_convert(sub):
    p = sub.add_parser('convert', help='convert Keras-1 .h5 weights to a '
                                       'chainer-tagger .npz')
    p.add_argument('src', metavar='SRC.h5')
    p.add_argument('dst', metavar='DST.npz')
    p.add_argument('--arch', choices=('crnn', 'cnn'),
                   help='architecture (detected from the file by default)')
    p.add_argument('--running-std-is', choices=('variance', 'std'),
                   help="meaning of BN running_std: 'std' for files written "
                        "by Keras <= 1.0.6 (known files: from the registry)")
    p.set_defaults(run=_run_convert)


def _run_convert(args):
    from chainer_tagger.keras_h5 import convert_keras_h5
    meta = convert_keras_h5(args.src, args.dst, arch=args.arch,
                            running_std_is=args.running_std_is)
    print('{} -> {}: {} ({}), {} kernels, running_std read as a {}'.format(
        args.src, args.dst, meta['name'] or 'unregistered file',
        meta['arch'], meta['source']['backend'],
        meta['settings']['running_std_is']))
    return 0


def _add_models(sub):
    p = sub.add_parser('models', help='list the pretrained models')
    p.set_defaults(run=_run_models)


def _run_models(args):
    from chainer_tagger import pretrained
    rows = [(name, e['arch'], e['settings']['tags'], pretrained.status(name),
             e['description']) for name, e in sorted(
                 pretrained.manifest().items())]
    print('{:<11} {:<5} {:<6} {:<40} {}'.format(
        'name', 'arch', 'tags', 'available', 'description'))
    for row in rows:
        print('{:<11} {:<5} {:<6} {:<40} {}'.format(*row))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog='chainer-tagger',
        description='Music auto-tagging and genre classification in Chainer.')
    sub = parser.add_subparsers(dest='command', required=True)
    _add_tag(sub)
    _add_convert(sub)
    _add_models(sub)
    return parser


def main(argv=None):
    from chainer_tagger.device import DeviceError
    from chainer_tagger.keras_h5 import KerasWeightsError
    from chainer_tagger.model_file import ModelFileError
    from chainer_tagger.pretrained import PretrainedModelError
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (KerasWeightsError, ModelFileError, PretrainedModelError,
            DeviceError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
