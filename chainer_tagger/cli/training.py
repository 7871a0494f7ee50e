"""``train`` and ``evaluate``: genre classifiers on a GTZAN-layout folder.

The commands' arguments; what they do is
:mod:`chainer_tagger.cli.run.training`.
"""
from chainer_tagger.cli.common import (batch_options, device_options,
                                       keras_options, model_options,
                                       positive_float, positive_int,
                                       progress_options)
from chainer_tagger.configuration import (DEFAULT_EVALUATION_WINDOWS,
                                          DEFAULT_TEST_FRACTION,
                                          TRAINING_RECIPES as RECIPES,
                                          WINDOW_FILLS)


def add_commands(sub):
    p = sub.add_parser(
        'train', help='train music2vec, fine-tune a CRNN tagger, or fit a '
                      'linear probe, on a GTZAN-layout folder',
        description='Train a genre classifier on a GTZAN-layout folder. '
                    'The defaults are a recipe for small data: the '
                    'pretrained body stays frozen (its output per window '
                    'is cached, so an epoch costs only the head), short '
                    'clips are looped to fill the input, each epoch sees '
                    'other windows, and best_model.npz is the model with '
                    'the best accuracy on the held-out clips.',
        parents=[model_options('music2vec', "'music2vec', a CRNN to "
                                            'fine-tune to the 10 genres '
                                            "(e.g. crnn-msd), or 'probe' "
                                            '(logistic regression on the '
                                            '--features of a model)'),
                 batch_options(8), device_options(), progress_options()])
    p.add_argument('--data', required=True, metavar='DIR',
                   help='folder with genres/<genre>/<genre>.NNNNN.wav')
    p.add_argument('--features', metavar='MODEL',
                   help='--model probe: the model whose features the probe '
                        'classifies (e.g. soundnet8, crnn-msd, cnn-msd or '
                        'a model file)')
    p.add_argument('--epochs', type=positive_int, default=None,
                   help='(default: {} for music2vec, {} for the CRNN)'
                        .format(RECIPES['music2vec']['epochs'],
                                RECIPES['crnn']['epochs']))
    p.add_argument('--optimizer', choices=('adam', 'rmsprop'),
                   default='adam', help='(default: adam)')
    p.add_argument('--lr', type=positive_float, default=None,
                   help='learning rate (default: {:g} for music2vec, {:g} '
                        'for the CRNN)'.format(RECIPES['music2vec']['lr'],
                                               RECIPES['crnn']['lr']))
    p.add_argument('--weight-decay', type=float, default=0.0,
                   help='L2 weight decay (default: 0)')
    p.add_argument('--out', default='result',
                   help='output folder, of this run only: one that holds '
                        'another run is refused (default: result)')
    p.add_argument('--resume', action='store_true',
                   help='continue from the latest snapshot in --out, of a '
                        'run with the same settings and data (--epochs may '
                        'differ); without a snapshot, start a fresh run')
    p.add_argument('--seed', type=int, default=0, help='(default: 0)')
    p.add_argument('--test-fraction', type=float,
                   default=DEFAULT_TEST_FRACTION,
                   help='clips of each genre held out for validation and '
                        'the choice of best_model.npz (default {}: 950/50 '
                        'on the full GTZAN; at least one per genre)'.format(
                            DEFAULT_TEST_FRACTION))
    p.add_argument('--snapshot-every', type=positive_int, default=None,
                   metavar='N',
                   help='also snapshot every N iterations (default: at the '
                        'end of each epoch only); the latest 2 snapshots '
                        'are kept')
    p.add_argument('--train-body', action='store_true',
                   help='train the pretrained body too (SoundNet; the '
                        "CRNN's conv blocks): slow, for large data")
    p.add_argument('--dropout', type=float, default=None,
                   help='dropout (default: {} for music2vec, {} before the '
                        "CRNN's classifier)".format(
                            RECIPES['music2vec']['dropout'],
                            RECIPES['crnn']['dropout']))
    p.add_argument('--heads', type=positive_int, default=None,
                   help='music2vec: heads of the ensemble on the one '
                        'SoundNet body, averaged in probability (default: '
                        '{})'.format(RECIPES['music2vec']['heads']))
    p.add_argument('--windows', type=positive_int,
                   default=DEFAULT_EVALUATION_WINDOWS,
                   help='windows per clip averaged in evaluation, and '
                        'drawn from in training with a frozen body '
                        '(default: {})'.format(DEFAULT_EVALUATION_WINDOWS))
    p.add_argument('--input-fill', choices=WINDOW_FILLS, default='loop',
                   help='what a window holds past the end of a clip '
                        'shorter than the input: the clip again (loop) or '
                        'zeros, as the original models (default: loop)')
    p.add_argument('--no-embeddings', action='store_true',
                   help='with --train-body: skip the before/after SoundNet '
                        'embedding plots')
    p.add_argument('--distributed', action='store_true',
                   help='data-parallel over MPI processes (start with '
                        'mpiexec -n N); ChainerMN')

    p = sub.add_parser(
        'evaluate', help='confusion matrix, accuracy and P/R/F1 of a genre '
                         'classifier',
        parents=[model_options(None, 'a trained model file or registry '
                                     'name'),
                 batch_options(8), device_options(), progress_options(),
                 keras_options()])
    p.add_argument('--data', required=True, metavar='DIR',
                   help='a GTZAN-layout folder')
    p.add_argument('--split', choices=('held-out', 'all'), default=None,
                   help="'held-out': the clips training held out; 'all': "
                        'every clip (default: held-out on the folder the '
                        'model was trained on, all on any other)')
    p.add_argument('--windows', type=positive_int, default=None,
                   help='windows per clip whose probabilities are averaged '
                        '(default: as in training, else {})'.format(
                            DEFAULT_EVALUATION_WINDOWS))
    p.add_argument('--out', default=None,
                   help='folder for evaluation-<data>-<split>.json and '
                        'confusion-<data>-<split>.png, named after the '
                        'evaluated folder (an evaluation of another model '
                        'or folder of the same name is kept: this one gets '
                        'a -2, -3 suffix; default: beside the model)')
