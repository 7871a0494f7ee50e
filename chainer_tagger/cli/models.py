"""``models``, ``convert`` and ``export``: the model files themselves."""
import textwrap

from chainer_tagger.cli.common import (check_positive, keras_options,
                                       model_options)
from chainer_tagger.configuration import keras_preset
from chainer_tagger.inference.onnx_export import export_onnx
from chainer_tagger.models import convert_weights
from chainer_tagger.pretrained import registry


def add_commands(sub):
    p = sub.add_parser('models', help='list the pretrained models')
    p.set_defaults(run=run_models)

    p = sub.add_parser('convert', help='convert Keras-1 .h5 weights (or '
                                       "SoundNet's sound8.npy) to a "
                                       'chainer-tagger .npz',
                       parents=[keras_options()])
    p.add_argument('src', metavar='SRC.h5|sound8.npy')
    p.add_argument('dst', metavar='DST.npz')
    p.add_argument('--arch', choices=('crnn', 'cnn'),
                   help='architecture (detected from the file by default)')
    p.add_argument('--running-std-is', choices=('variance', 'std'),
                   help="former option, an alias: 'std' is --keras "
                        "1.0.6-theano, 'variance' --keras 1.1-theano (eps "
                        "1e-5)")
    p.add_argument('--trust-unverified-pickle', action='store_true',
                   help='read a SoundNet .npy whose sha256 is not the '
                        'registered one (still with a restricted unpickler)')
    p.set_defaults(run=run_convert)

    p = sub.add_parser('export', help='export a tagger to ONNX',
                       parents=[model_options('crnn-msd',
                                              'registry name or model file')])
    p.add_argument('-o', '--output', required=True, metavar='model.onnx')
    p.add_argument('--batch-size', type=int, default=1,
                   help='batch size fixed in the exported graph (default: 1)')
    p.add_argument('--opset', type=int, default=11,
                   help='ONNX opset version (default: 11)')
    p.set_defaults(run=run_export)


def run_models(args):
    """Each registry model: architecture, tags, default Keras preset,
    where it is, what it is, and why that preset."""
    line = '{:<12} {:<9} {:<6} {:<13} {:<40} {}'
    print(line.format('name', 'arch', 'tags', 'keras', 'available',
                      'description'))
    for name, e in sorted(registry.manifest().items()):
        settings = e['settings']
        print(line.format(name, e['arch'], settings.get('tags', '-'),
                          settings.get('keras', '-'), registry.status(name),
                          e['description']))
        reason = e.get('keras_reason')
        if reason:
            lead = ('why {}: '.format(settings['keras'])
                    if 'keras' in settings else '')
            print(textwrap.fill(lead + reason, 100, initial_indent=' ' * 13,
                                subsequent_indent=' ' * 13))
    return 0


def run_convert(args):
    meta = convert_weights(args.src, args.dst, arch=args.arch,
                           keras=args.keras,
                           running_std_is=args.running_std_is,
                           trust_unverified=args.trust_unverified_pickle)
    if meta['arch'] == 'soundnet':
        print('{} -> {}: SoundNet-8'.format(args.src, args.dst))
        return 0
    preset = keras_preset(meta['settings']['keras'])
    print('{} -> {}: {} ({}), {} kernels, run as Keras {} by default ({}: '
          'running_std read as a {}, eps {:g})'.format(
              args.src, args.dst, meta['name'] or 'unregistered file',
              meta['arch'], meta['source']['backend'], preset.name,
              preset.versions, preset.running_std, preset.eps))
    return 0


def run_export(args):
    check_positive(args, 'batch_size')
    export_onnx(args.model, args.output, batch_size=args.batch_size,
                opset_version=args.opset)
    print('{} -> {}'.format(args.model, args.output))
    return 0
