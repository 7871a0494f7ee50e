"""What ``models``, ``convert`` and ``export`` do (their arguments:
:mod:`chainer_tagger.cli.models`)."""
import textwrap

from chainer_tagger.cli.common import write_stdout
from chainer_tagger.cli.run.outputs import check_output
from chainer_tagger.configuration import keras_preset
from chainer_tagger.inference.onnx_export import (check_export_options,
                                                  export_onnx)
from chainer_tagger.models import convert_weights
from chainer_tagger.pretrained import registry


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
