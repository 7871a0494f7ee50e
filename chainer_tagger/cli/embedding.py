"""``embed``: feature vectors of files, or of a GTZAN folder with plots."""
import json
import sys

import numpy as np

from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.audio import expand_paths
from chainer_tagger.cli.common import (
    batch_options, decoder_delay_options, device_options, keras_options,
    model_options, precision_options, progress_options, window_options)
from chainer_tagger.configuration import GTZAN_GENRES
from chainer_tagger.datasets import GTZAN
from chainer_tagger.device import to_device
from chainer_tagger.errors import UsageError
from chainer_tagger.inference import embed_dataset, embed_files
from chainer_tagger.inference.embedding_plot import plot_embeddings
from chainer_tagger.models import load_model
from chainer_tagger.pretrained import registry
from chainer_tagger.training.inputs import clip_pipeline


def add_commands(sub):
    p = sub.add_parser(
        'embed', help='feature vectors of files for any model (or of a '
                      'GTZAN folder, with PCA and t-SNE plots)',
        parents=[model_options('soundnet8', "registry name or model file: "
                                            "CRNN (32-d), CNN (256-d), "
                                            "'soundnet8' or music2vec "
                                            "(3208-d)"),
                 batch_options(8), device_options(), progress_options(),
                 window_options(), keras_options(), precision_options(),
                 decoder_delay_options()])
    p.add_argument('paths', nargs='*', metavar='PATH',
                   help='audio files, folders or .npy melgrams')
    p.add_argument('--data', help='a GTZAN-layout folder instead: '
                                  'embeddings with PCA/t-SNE plots by genre')
    p.add_argument('-o', '--output', required=True, metavar='FEATURES.npy')
    p.add_argument('--aggregate', choices=('mean', 'max'), default=None,
                   help='with --window full: one row per file')
    p.set_defaults(run=run_embed)


def run_embed(args):
    if bool(args.paths) == bool(args.data):
        raise UsageError('give either PATH... or --data DIR')
    net = to_device(load_model(args.model, keras=args.keras,
                               precision=args.precision), args.gpu)
    stem = args.output[:-4] if args.output.endswith('.npy') else args.output
    if args.data:
        return _embed_gtzan(args, net, stem)
    feats, index = embed_files(net, expand_paths(args.paths), args.window,
                               args.hop, args.aggregate, args.batch_size,
                               args.decoder_delay)
    np.save(args.output, feats)
    write_text_atomic(stem + '.json', json.dumps(index, indent=1) + '\n')
    failed = [r for r in index if 'error' in r]
    for r in failed:
        print('error: {}'.format(r['error']), file=sys.stderr)
    print('wrote {} ({} rows of {}) and {}'.format(
        args.output, feats.shape[0], feats.shape[1], stem + '.json'))
    return 1 if failed else 0


def _embed_gtzan(args, net, stem):
    if net.clip_input.kind != 'waveform':
        raise UsageError('--data embeds with soundnet8 or a music2vec '
                         'model')
    pipeline = clip_pipeline(net)
    gtzan = GTZAN(args.data, pipeline.feature, pipeline.kind,
                  registry.cache_dir() / 'features',
                  progress=not args.no_progress,
                  transform=pipeline.transform)
    emb = embed_dataset(net, gtzan, args.batch_size)
    np.save(args.output, emb)
    write_text_atomic(stem + '.csv', 'row,path,genre\n' + ''.join(
        '{},{},{}\n'.format(i, p, GTZAN_GENRES[k])
        for i, (p, k) in enumerate(zip(gtzan.paths, gtzan.labels))))
    plots = plot_embeddings(emb, gtzan.labels, GTZAN_GENRES, stem,
                            'SoundNet embeddings ({})'.format(args.model))
    print('wrote {} {} and {}'.format(args.output, stem + '.csv',
                                      ', '.join(plots)))
    return 0
