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
    p.add_argument('--window', choices=('centre', 'full'), default='centre',
                   help="'centre': the centre 29.12 s (the original); "
                        "'full': slide 29.12 s windows over the whole file")
    p.add_argument('--hop', type=float, default=None,
                   help='seconds between windows with --window full '
                        '(default 29.12)')
    p.add_argument('--aggregate', choices=('mean', 'max'), default='mean',
                   help='how --window full combines the windows')
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(run=_run_tag)


def _run_tag(args):
    from chainer_tagger import report
    from chainer_tagger.tagging import tag
    if args.batch_size < 1:
        raise SystemExit('error: --batch-size must be at least 1')
    if args.hop is not None and args.hop <= 0:
        raise SystemExit('error: --hop must be positive')
    results = tag(args.paths, model=args.model, batch_size=args.batch_size,
                  gpu=args.gpu, progress=not args.no_progress,
                  per_clip=args.per_clip, window=args.window, hop=args.hop,
                  aggregate=args.aggregate)
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


def _add_taggram(sub):
    p = sub.add_parser('taggram', help='tags over time of a whole file: a '
                                       'heat map (PNG) or per-window JSON')
    p.add_argument('path', metavar='FILE')
    p.add_argument('--model', '-m', default='crnn-msd')
    p.add_argument('--hop', type=float, default=None,
                   help='seconds between 29.12 s windows (default 29.12)')
    p.add_argument('--top', '-k', type=int, default=10,
                   help='tags shown in the heat map: the K best on average')
    p.add_argument('--format', '-f', choices=('png', 'json'), default='png')
    p.add_argument('-o', '--output', required=True,
                   metavar='taggram.png|.json')
    p.add_argument('--batch-size', '-b', type=int, default=16)
    p.add_argument('--gpu', type=int, default=None)
    p.set_defaults(run=_run_taggram)


def _run_taggram(args):
    import json
    from chainer_tagger.device import to_device
    from chainer_tagger.inputs import InputError
    from chainer_tagger.pretrained import load_model
    from chainer_tagger.report import write_atomic
    from chainer_tagger.tagging import tag_windows
    from chainer_tagger.taggram import plot_taggram
    if args.hop is not None and args.hop <= 0:
        raise SystemExit('error: --hop must be positive')
    model = to_device(load_model(args.model), args.gpu)
    try:
        starts, scores = tag_windows(model, args.path, args.hop,
                                     args.batch_size)
    except InputError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    if args.format == 'json':
        write_atomic(args.output, json.dumps({
            'path': args.path, 'model': args.model,
            'window_seconds': 29.12, 'windows': [
                {'start': float(t), 'scores': dict(zip(
                    model.tags, map(float, s)))}
                for t, s in zip(starts, scores)]}, indent=1) + '\n')
    else:
        plot_taggram(starts, scores, model.tags, args.output, k=args.top,
                     title='{} ({})'.format(args.path, args.model))
    print('{}: {} windows -> {}'.format(args.path, len(starts), args.output))
    return 0


def _add_convert(sub):
    p = sub.add_parser('convert', help='convert Keras-1 .h5 weights (or '
                                       "SoundNet's sound8.npy) to a "
                                       'chainer-tagger .npz')
    p.add_argument('src', metavar='SRC.h5|sound8.npy')
    p.add_argument('dst', metavar='DST.npz')
    p.add_argument('--arch', choices=('crnn', 'cnn'),
                   help='architecture (detected from the file by default)')
    p.add_argument('--running-std-is', choices=('variance', 'std'),
                   help="meaning of BN running_std: 'std' for files written "
                        "by Keras <= 1.0.6 (known files: from the registry)")
    p.add_argument('--trust-unverified-pickle', action='store_true',
                   help='read a SoundNet .npy whose sha256 is not the '
                        'registered one (still with a restricted unpickler)')
    p.set_defaults(run=_run_convert)


def _run_convert(args):
    from chainer_tagger.keras_h5 import convert_keras_h5
    if args.src.lower().endswith('.npy'):
        from chainer_tagger.soundnet_npy import convert_soundnet_npy
        convert_soundnet_npy(
            args.src, args.dst,
            trust_unverified=args.trust_unverified_pickle)
        print('{} -> {}: SoundNet-8'.format(args.src, args.dst))
        return 0
    meta = convert_keras_h5(args.src, args.dst, arch=args.arch,
                            running_std_is=args.running_std_is)
    print('{} -> {}: {} ({}), {} kernels, running_std read as a {}'.format(
        args.src, args.dst, meta['name'] or 'unregistered file',
        meta['arch'], meta['source']['backend'],
        meta['settings']['running_std_is']))
    return 0


def _add_export(sub):
    p = sub.add_parser('export', help='export a tagger to ONNX')
    p.add_argument('--model', '-m', default='crnn-msd')
    p.add_argument('-o', '--output', required=True, metavar='model.onnx')
    p.add_argument('--batch-size', type=int, default=1,
                   help='batch size fixed in the exported graph')
    p.add_argument('--opset', type=int, default=11)
    p.set_defaults(run=_run_export)


def _run_export(args):
    from chainer_tagger.onnx_export import export_onnx
    export_onnx(args.model, args.output, batch_size=args.batch_size,
                opset_version=args.opset)
    print('{} -> {}'.format(args.model, args.output))
    return 0


def _add_models(sub):
    p = sub.add_parser('models', help='list the pretrained models')
    p.set_defaults(run=_run_models)


def _run_models(args):
    from chainer_tagger import pretrained
    rows = [(name, e['arch'], e['settings'].get('tags', '-'),
             pretrained.status(name),
             e['description']) for name, e in sorted(
                 pretrained.manifest().items())]
    line = '{:<11} {:<9} {:<6} {:<40} {}'
    print(line.format('name', 'arch', 'tags', 'available', 'description'))
    for row in rows:
        print(line.format(*row))
    return 0


def _add_train(sub):
    p = sub.add_parser('train', help='train music2vec, or fine-tune a CRNN '
                                     'tagger, on a GTZAN-layout folder')
    p.add_argument('--model', default='music2vec',
                   help="'music2vec' or a CRNN to fine-tune to the 10 "
                        "genres (e.g. crnn-msd)")
    p.add_argument('--data', required=True,
                   help='folder with genres/<genre>/<genre>.NNNNN.wav')
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--optimizer', choices=('rmsprop', 'adam'),
                   default='rmsprop')
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--gpu', type=int, default=None)
    p.add_argument('--out', default='result')
    p.add_argument('--resume', action='store_true',
                   help='continue from the latest snapshot in --out')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--test-fraction', type=float, default=0.05,
                   help='clips of each genre held out for testing '
                        '(0.05: 950/50 on the full GTZAN)')
    p.add_argument('--snapshot-every', type=int, default=None,
                   help='also snapshot every N iterations')
    p.add_argument('--freeze-soundnet', action='store_true')
    p.add_argument('--dropout', type=float, default=0.2)
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--no-embeddings', action='store_true',
                   help='skip the before/after SoundNet embedding plots')
    p.add_argument('--distributed', action='store_true',
                   help='data-parallel over MPI processes (start with '
                        'mpiexec -n N); ChainerMN')
    p.set_defaults(run=_run_train)


def _run_train(args):
    from chainer_tagger.training import train
    best = train(model=args.model, data=args.data, out=args.out,
                 epochs=args.epochs, batch_size=args.batch_size,
                 optimizer=args.optimizer, lr=args.lr, gpu=args.gpu,
                 resume=args.resume, seed=args.seed,
                 test_fraction=args.test_fraction,
                 snapshot_every=args.snapshot_every,
                 freeze_soundnet=args.freeze_soundnet, dropout=args.dropout,
                 progress=not args.no_progress,
                 embeddings=not args.no_embeddings,
                 distributed=args.distributed)
    if best is not None:  # rank 0 (or a single process)
        print('best model: {}'.format(best))
    return 0


def _add_evaluate(sub):
    p = sub.add_parser('evaluate', help='confusion matrix, accuracy and '
                                        'P/R/F1 of a genre classifier')
    p.add_argument('--model', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--split', choices=('test', 'all'), default='test')
    p.add_argument('--out', default=None,
                   help='folder for evaluation.json and confusion.png '
                        '(default: beside the model)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--gpu', type=int, default=None)
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args):
    import os
    from chainer_tagger.evaluation import evaluate
    out = args.out
    if out is None:
        out = os.path.dirname(os.path.abspath(args.model)) \
            if os.path.isfile(args.model) else '.'
    r = evaluate(args.model, args.data, split=args.split, out=out,
                 batch_size=args.batch_size, gpu=args.gpu,
                 progress=not args.no_progress)
    print('{} clips: accuracy {:.3f}, weighted precision {:.3f}, recall '
          '{:.3f}, F1 {:.3f}'.format(r['n_clips'], r['accuracy'],
                                     r['weighted']['precision'],
                                     r['weighted']['recall'],
                                     r['weighted']['f1']))
    print('wrote {}'.format(os.path.join(out, 'evaluation.json')))
    return 0


def _add_embed(sub):
    p = sub.add_parser('embed', help='feature vectors of files for any '
                                     'model (or of a GTZAN folder, with '
                                     'PCA and t-SNE plots)')
    p.add_argument('paths', nargs='*', metavar='PATH',
                   help='audio files, folders or .npy melgrams')
    p.add_argument('--data', help='a GTZAN-layout folder instead: '
                                  'embeddings with PCA/t-SNE plots by genre')
    p.add_argument('--model', '-m', default='soundnet8',
                   help="registry name or model file: CRNN (32-d), CNN "
                        "(256-d), 'soundnet8' or music2vec (3208-d)")
    p.add_argument('-o', '--output', required=True, metavar='FEATURES.npy')
    p.add_argument('--window', choices=('centre', 'full'), default='centre')
    p.add_argument('--hop', type=float, default=None)
    p.add_argument('--aggregate', choices=('mean', 'max'), default=None,
                   help='with --window full: one row per file')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--gpu', type=int, default=None)
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(run=_run_embed)


def _load_embedder(name):
    from chainer_tagger.links.model import Music2Vec
    from chainer_tagger.pretrained import load_model
    if name == 'soundnet8':
        return Music2Vec(soundnet='soundnet8')
    return load_model(name)


def _run_embed(args):
    import json
    import numpy as np
    from chainer_tagger.device import to_device
    from chainer_tagger.report import write_atomic
    if bool(args.paths) == bool(args.data):
        raise SystemExit('error: give either PATH... or --data DIR')
    net = to_device(_load_embedder(args.model), args.gpu)
    stem = args.output[:-4] if args.output.endswith('.npy') else args.output
    if args.data:
        return _embed_gtzan(args, net, stem)
    from chainer_tagger.embedding import embed_files
    from chainer_tagger.inputs import expand_paths
    feats, index = embed_files(net, expand_paths(args.paths), args.window,
                               args.hop, args.aggregate, args.batch_size)
    np.save(args.output, feats)
    write_atomic(stem + '.json', json.dumps(index, indent=1) + '\n')
    failed = [r for r in index if 'error' in r]
    for r in failed:
        print('error: {}'.format(r['error']), file=sys.stderr)
    print('wrote {} ({} rows of {}) and {}'.format(
        args.output, feats.shape[0], feats.shape[1], stem + '.json'))
    return 1 if failed else 0


def _embed_gtzan(args, net, stem):
    import numpy as np
    from chainer_tagger.datasets.gtzan import GTZAN
    from chainer_tagger.embedding import embed_gtzan, plot_embeddings
    from chainer_tagger.pretrained import cache_dir
    from chainer_tagger.report import write_atomic
    from chainer_tagger.tags import GTZAN_GENRES
    from chainer_tagger.training import clip_input
    if not hasattr(net, 'embed'):
        raise SystemExit('error: --data embeds with soundnet8 or a '
                         'music2vec model')
    kind, feature, transform = clip_input('music2vec')
    gtzan = GTZAN(args.data, feature, kind, cache_dir() / 'features',
                  progress=not args.no_progress)
    emb = embed_gtzan(net, gtzan, transform, args.batch_size)
    np.save(args.output, emb)
    write_atomic(stem + '.csv', 'row,path,genre\n' + ''.join(
        '{},{},{}\n'.format(i, p, GTZAN_GENRES[k])
        for i, (p, k) in enumerate(zip(gtzan.paths, gtzan.labels))))
    plots = plot_embeddings(emb, gtzan.labels, GTZAN_GENRES, stem,
                            'SoundNet embeddings ({})'.format(args.model))
    print('wrote {} {} and {}'.format(args.output, stem + '.csv',
                                      ', '.join(plots)))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog='chainer-tagger',
        description='Music auto-tagging and genre classification in Chainer.')
    sub = parser.add_subparsers(dest='command', required=True)
    _add_tag(sub)
    _add_taggram(sub)
    _add_convert(sub)
    _add_export(sub)
    _add_models(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_embed(sub)
    return parser


def main(argv=None):
    from chainer_tagger.device import DeviceError
    from chainer_tagger.keras_h5 import KerasWeightsError
    from chainer_tagger.model_file import ModelFileError
    from chainer_tagger.pretrained import PretrainedModelError
    from chainer_tagger.soundnet_npy import UnsafePickleError
    from chainer_tagger.datasets.gtzan import DatasetError
    from chainer_tagger.training import TrainingError
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (KerasWeightsError, ModelFileError, PretrainedModelError,
            DeviceError, UnsafePickleError, DatasetError, TrainingError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
