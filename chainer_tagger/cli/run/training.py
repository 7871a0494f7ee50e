"""What ``train`` and ``evaluate`` do (their arguments:
:mod:`chainer_tagger.cli.training`)."""
import os

from chainer_tagger.cli.run.outputs import check_outputs
from chainer_tagger.training import TrainingConfig, evaluate, train


def run_train(args):
    # What training writes into --out must not be a model it reads.
    check_outputs([('--out', os.path.join(args.out, name)) for name in
                   ('best_model.npz', 'model.npz', 'run.json')],
                  read=[args.model, args.features], create_folders=False)
    best = train(TrainingConfig(
        model=args.model, data=args.data, out=args.out, epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, gpu=args.gpu, resume=args.resume,
        seed=args.seed, test_fraction=args.test_fraction,
        snapshot_every=args.snapshot_every, train_body=args.train_body,
        dropout=args.dropout, heads=args.heads, windows=args.windows,
        input_fill=args.input_fill, features=args.features,
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
                 windows=args.windows, progress=not args.no_progress,
                 keras=args.keras)
    print('{} clips ({}): accuracy {:.3f}, loss {:.3f}, weighted precision '
          '{:.3f}, recall {:.3f}, F1 {:.3f}'.format(
              r['n_clips'], r['split'], r['accuracy'], r['loss'],
              r['weighted']['precision'], r['weighted']['recall'],
              r['weighted']['f1']))
    print('wrote {}'.format(', '.join(r['files'])))
    return 0
