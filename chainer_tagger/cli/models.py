"""``models``, ``convert`` and ``export``: the model files themselves."""
import textwrap

from chainer_tagger.cli.common import (check_output, keras_options,
                                       model_options, positive_int,
                                       write_stdout)
from chainer_tagger.configuration import ONNX_OPSETS, keras_preset
from chainer_tagger.inference.onnx_export import (check_export_options,
                                                  export_onnx)
from chainer_tagger.models import convert_weights
from chainer_tagger.pretrained import registry


def add_commands(sub):
    p = sub.add_parser('models', help='list the pretrained models and '
                                      'whether each is available here')
    p.set_defaults(run=run_models)

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
    p.set_defaults(run=run_convert)

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
    p.set_defaults(run=run_export)


def run_models(args):
    """Each registry model: architecture, tags, default Keras preset,
    where it is, what it is, and why that preset."""
    line = '{:<12} {:<9} {:<6} {:<13} {:<40} {}\n'
    out = [line.format('name', 'arch', 'tags', 'keras', 'available',
                       'description')]
    for name, e in sorted(registry.manifest().items()):
        settings = e['settings']
        out.append(line.format(name, e['arch'], settings.get('tags', '-'),
                               settings.get('keras', '-'),
                               registry.status(name), e['description']))
        reason = e.get('keras_reason')
        if reason:
            lead = ('why {}: '.format(settings['keras'])
                    if 'keras' in settings else '')
            out.append(textwrap.fill(
                lead + reason, 100, initial_indent=' ' * 13,
                subsequent_indent=' ' * 13) + '\n')
    write_stdout(''.join(out))
    return 0


def run_convert(args):
    check_output(args.dst, [args.src])
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
    check_export_options(args.batch_size, args.opset)
    check_output(args.output, [args.model])
    export_onnx(args.model, args.output, batch_size=args.batch_size,
                opset_version=args.opset)
    print('{} -> {}'.format(args.model, args.output))
    return 0
