"""``models``, ``convert`` and ``export``: the model files themselves.

The commands' arguments; what they do is
:mod:`chainer_tagger.cli.run.models`.
"""
from chainer_tagger.cli.common import (keras_options, model_options,
                                       positive_int)
from chainer_tagger.configuration import ONNX_OPSETS


def add_commands(sub):
    sub.add_parser('models', help='list the pretrained models and '
                                  'whether each is available here')

    p = sub.add_parser('convert', help='convert Keras-1 .h5 weights (or '
                                       "SoundNet's sound8.npy) to a "
                                       'chainer-tagger .npz',
                       parents=[keras_options()])
    p.add_argument('src', metavar='SRC.h5|sound8.npy',
                   help="a Keras-1 weight file of Choi's taggers, or "
                        "SoundNet's sound8.npy")
    p.add_argument('dst', metavar='DST.npz',
                   help='the chainer-tagger model file to write')
    p.add_argument('--arch', choices=('crnn', 'cnn'),
                   help='architecture (default: detected from the file)')
    p.add_argument('--running-std-is', choices=('variance', 'std'),
                   help="former option, an alias: 'std' is --keras "
                        "1.0.6-theano, 'variance' --keras 1.1-theano (eps "
                        "1e-5)")
    p.add_argument('--trust-unverified-pickle', action='store_true',
                   help='read a SoundNet .npy whose sha256 is not the '
                        'registered one (still with a restricted unpickler; '
                        'default: refuse it)')

    p = sub.add_parser('export', help='export any model to ONNX (its '
                       'scores, or a model without classes its features)',
                       parents=[model_options('crnn-msd',
                                              'registry name or model file')])
    p.add_argument('-o', '--output', required=True, metavar='model.onnx',
                   help='the ONNX file to write (its folder is created); '
                        'its metadata_props hold the tag names and the '
                        'output function')
    p.add_argument('--batch-size', '-b', type=positive_int, default=1,
                   metavar='N',
                   help='batch size fixed in the exported graph (default: 1)')
    p.add_argument('--opset', type=int, default=ONNX_OPSETS[-1],
                   choices=ONNX_OPSETS,
                   help='ONNX opset version (default: {})'.format(
                       ONNX_OPSETS[-1]))
