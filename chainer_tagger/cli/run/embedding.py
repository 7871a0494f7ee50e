"""What ``embed`` does (its arguments: :mod:`chainer_tagger.cli.embedding`)."""
import json
import os

import numpy as np

from chainer_tagger.atomic_file import atomic_write, write_text_atomic
from chainer_tagger.audio import expand_paths
from chainer_tagger.cli.common import (check_window_options, print_notes,
                                       write_stdout)
from chainer_tagger.cli.run.outputs import check_outputs
from chainer_tagger.configuration import GTZAN_GENRES, MIN_CLIPS_TO_PLOT
from chainer_tagger.datasets import GTZAN
from chainer_tagger.device import to_device
from chainer_tagger.errors import UsageError
from chainer_tagger.inference import embed_dataset, embed_files
from chainer_tagger.inference.embedding_plot import plot_embeddings
from chainer_tagger.models import load_model
from chainer_tagger.pretrained import registry
from chainer_tagger.training.inputs import decoded_clips


def _stem(path):
    """``features.npy`` -> ``features``; ``feats.bin`` -> ``feats``."""
    return os.path.splitext(path)[0]


def _save_npy(path, array):
    """``np.save`` under exactly ``path`` (np.save would add ``.npy``),
    atomically."""
    with atomic_write(path, 'wb', suffix='.npy') as f:
        np.save(f, array)


def run_embed(args):
    if bool(args.paths) == bool(args.data):
        raise UsageError('give either PATH... or --data DIR')
    check_window_options(args)
    stem = _stem(args.output)
    beside = ('.csv', '_pca.png', '_tsne.png') if args.data else ('.json',)
    check_outputs([('-o', args.output)] +
                  [('-o (beside it)', stem + s) for s in beside],
                  read=[args.model], scanned=args.paths or [args.data])
    if args.data and args.window != 'centre':
        raise UsageError('--data embeds each clip whole; --window full is '
                         'for PATH...')
    net = to_device(load_model(args.model, keras=args.keras,
                               precision=args.precision), args.gpu)
    stem = _stem(args.output)
    if args.data:
        return _embed_gtzan(args, net, stem)
    feats, index = embed_files(net, expand_paths(args.paths), args.window,
                               args.hop, args.aggregate, args.batch_size,
                               args.decoder_delay)
    _save_npy(args.output, feats)
    write_text_atomic(stem + '.json', json.dumps(index, indent=1,
                                                 allow_nan=False) + '\n')
    first = {}
    for r in index:  # one line per file, not per window
        first.setdefault(r['path'], r)
    print_notes(first.values())
    failed = [r for r in index if 'error' in r]
    write_stdout('wrote {} (NumPy .npy, {} rows of {}) and {}\n'.format(
        args.output, feats.shape[0], feats.shape[1], stem + '.json'))
    return 1 if failed else 0


def _embed_gtzan(args, net, stem):
    pipeline = decoded_clips(net.clip_input)
    gtzan = GTZAN(args.data, pipeline.feature, pipeline.kind,
                  registry.cache_dir() / 'features',
                  progress=not args.no_progress)
    if len(gtzan) < MIN_CLIPS_TO_PLOT:
        raise UsageError(
            '{}: {} readable clips; the PCA and t-SNE plots need at least '
            '{}'.format(args.data, len(gtzan), MIN_CLIPS_TO_PLOT))
    emb = embed_dataset(net, gtzan, args.batch_size,
                        progress=not args.no_progress)
    _save_npy(args.output, emb)
    write_text_atomic(stem + '.csv', 'row,path,genre\n' + ''.join(
        '{},{},{}\n'.format(i, p, GTZAN_GENRES[k])
        for i, (p, k) in enumerate(zip(gtzan.paths, gtzan.labels))))
    plots = plot_embeddings(emb, gtzan.labels, GTZAN_GENRES, stem,
                            'Embeddings of {}, {}'.format(
                                os.path.basename(os.path.normpath(
                                    args.data)),
                                os.path.basename(args.model)),
                            progress=not args.no_progress,
                            legend_title='genre')
    write_stdout('wrote {} (NumPy .npy, {} rows of {}), {} and {}\n'.format(
        args.output, emb.shape[0], emb.shape[1], stem + '.csv',
        ', '.join(map(str, plots))))
    return 0
