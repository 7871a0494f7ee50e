"""``train`` and ``evaluate``: genre classifiers on a GTZAN-layout folder."""
import os

from chainer_tagger.cli.common import (batch_options, device_options,
                                       keras_options, model_options,
                                       progress_options)
from chainer_tagger.training import TrainingConfig, evaluate, train


def add_commands(sub):
    p = sub.add_parser(
        'train', help='train music2vec, or fine-tune a CRNN tagger, on a '
                      'GTZAN-layout folder',
        parents=[model_options('music2vec', "'music2vec' or a CRNN to "
                                            'fine-tune to the 10 genres '
                                            '(e.g. crnn-msd)'),
                 batch_options(8), device_options(), progress_options()])
    p.add_argument('--data', required=True, metavar='DIR',
                   help='folder with genres/<genre>/<genre>.NNNNN.wav')
    p.add_argument('--epochs', type=int, default=20, help='(default: 20)')
    p.add_argument('--optimizer', choices=('rmsprop', 'adam'),
                   default='rmsprop', help='(default: rmsprop)')
    p.add_argument('--lr', type=float, default=1e-4,
                   help='learning rate (default: 1e-4)')
    p.add_argument('--out', default='result',
                   help='output folder (default: result)')
    p.add_argument('--resume', action='store_true',
                   help='continue from the latest snapshot in --out')
    p.add_argument('--seed', type=int, default=0, help='(default: 0)')
    p.add_argument('--test-fraction', type=float, default=0.05,
                   help='clips of each genre held out for testing '
                        '(default 0.05: 950/50 on the full GTZAN)')
    p.add_argument('--snapshot-every', type=int, default=None, metavar='N',
                   help='also snapshot every N iterations (default: at the '
                        'end of each epoch only)')
    p.add_argument('--freeze-soundnet', action='store_true',
                   help="music2vec: keep SoundNet's weights fixed")
    p.add_argument('--dropout', type=float, default=0.2,
                   help='music2vec dropout (default: 0.2)')
    p.add_argument('--no-embeddings', action='store_true',
                   help='skip the before/after SoundNet embedding plots')
    p.add_argument('--distributed', action='store_true',
                   help='data-parallel over MPI processes (start with '
                        'mpiexec -n N); ChainerMN')
    p.set_defaults(run=run_train)

    p = sub.add_parser(
        'evaluate', help='confusion matrix, accuracy and P/R/F1 of a genre '
                         'classifier',
        parents=[model_options(None, 'a trained model file or registry '
                                     'name'),
                 batch_options(8), device_options(), progress_options(),
                 keras_options()])
    p.add_argument('--data', required=True, metavar='DIR',
                   help='the GTZAN-layout folder the model was trained on')
    p.add_argument('--split', choices=('test', 'all'), default='test',
                   help="'test': the held-out split of training; 'all': "
                        'every clip (default: test)')
    p.add_argument('--out', default=None,
                   help='folder for evaluation.json and confusion.png '
                        '(default: beside the model)')
    p.set_defaults(run=run_evaluate)


def run_train(args):
    best = train(TrainingConfig(
        model=args.model, data=args.data, out=args.out, epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        gpu=args.gpu, resume=args.resume, seed=args.seed,
        test_fraction=args.test_fraction, snapshot_every=args.snapshot_every,
        freeze_soundnet=args.freeze_soundnet, dropout=args.dropout,
        progress=not args.no_progress, embeddings=not args.no_embeddings,
        distributed=args.distributed))
    if best is not None:  # rank 0 (or a single process)
        print('best model: {}'.format(best))
    return 0


def run_evaluate(args):
    out = args.out
    if out is None:
        out = os.path.dirname(os.path.abspath(args.model)) \
            if os.path.isfile(args.model) else '.'
    r = evaluate(args.model, args.data, split=args.split, out=out,
                 batch_size=args.batch_size, gpu=args.gpu,
                 progress=not args.no_progress, keras=args.keras)
    print('{} clips: accuracy {:.3f}, weighted precision {:.3f}, recall '
          '{:.3f}, F1 {:.3f}'.format(r['n_clips'], r['accuracy'],
                                     r['weighted']['precision'],
                                     r['weighted']['recall'],
                                     r['weighted']['f1']))
    print('wrote {}'.format(os.path.join(out, 'evaluation.json')))
    return 0
