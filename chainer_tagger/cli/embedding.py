"""``embed``: feature vectors of files, or of a GTZAN folder with plots.

The command's arguments; what it does is
:mod:`chainer_tagger.cli.run.embedding`.
"""
from chainer_tagger.cli.common import (
    batch_options, decoder_delay_options, device_options, keras_options,
    model_options, precision_options, progress_options, window_options)
from chainer_tagger.configuration import MIN_CLIPS_TO_PLOT, SCAN_RULE


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
                   help='audio files, folders or .npy melgrams ({})'.format(
                       SCAN_RULE))
    p.add_argument('--data', metavar='DIR',
                   help='a GTZAN-layout folder instead of PATHs: embeddings '
                        'with PCA/t-SNE plots by genre (at least {} clips; '
                        'default: none)'.format(MIN_CLIPS_TO_PLOT))
    p.add_argument('-o', '--output', required=True, metavar='FEATURES.npy',
                   help='the features, in NumPy .npy format under exactly '
                        'this name (its folder is created); beside it '
                        'FEATURES.json (which row is which file) or, with '
                        '--data, FEATURES.csv and the plots '
                        'FEATURES_pca.png, FEATURES_tsne.png')
