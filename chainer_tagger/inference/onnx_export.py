"""Exporting the taggers to ONNX (through the ``onnx_chainer`` of Chainer 7).

The export traces the model's Chainer graph on a zero melgram: the Keras-1
GRU becomes plain ONNX operators (MatMul, Add, HardSigmoid with alpha 0.2
and beta 0.5, Tanh, Mul: the reset gate before the recurrent matrix, as
Keras computed it), the Keras BatchNormalization a per-entry scale and
shift (mode 0) or the batch statistics (mode 2, over the exported batch).
The batch size is fixed at export time (default 1).  The file's metadata
(``metadata_props``) carries the tag names (``tags``, a JSON list in the
order of the outputs), the model's name and what its input is.
"""
import json
import os

import numpy as np

import chainer

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import N_FRAMES, N_MELS, ONNX_OPSETS
from chainer_tagger.errors import UsageError
from chainer_tagger.functions import generic_kernels
from chainer_tagger.models import load_model


def check_export_options(batch_size, opset_version):
    """A :class:`UsageError` for what cannot be exported, before any work:
    a batch size below 1, an opset onnx_chainer cannot write, or no ONNX
    packages (the ``[onnx]`` extra)."""
    if batch_size < 1:
        raise UsageError('the batch size must be at least 1, not {}'.format(
            batch_size))
    if opset_version not in ONNX_OPSETS:
        raise UsageError('opset {} cannot be written: the export supports '
                         'opsets {} to {}'.format(opset_version,
                                                  ONNX_OPSETS[0],
                                                  ONNX_OPSETS[-1]))
    try:
        import onnx  # NOQA: F401
        import onnx_chainer  # NOQA: F401
    except ImportError as e:
        raise UsageError(
            'ONNX export needs the onnx extra ({}): pip install '
            '"chainer-tagger[onnx]"'.format(e)) from None


def export_onnx(model, path, batch_size=1, opset_version=11):
    """Write ``model`` (a registry name, a model file or a loaded tagger)
    to ``path`` as ONNX and check it; returns the ONNX ModelProto."""
    check_export_options(batch_size, opset_version)
    import onnx
    import onnx_chainer
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if model.clip_input.kind != 'melgram' or not model.tags:
        raise UsageError(
            '{}: ONNX export is for the melgram taggers (CRNN and CNN '
            'models), not a {} model{}'.format(
                model.model_name or type(model).__name__, model.arch,
                ' (onnx-chainer has no converter for its LSTMs; use the '
                'model through chainer-tagger or its Python API)'
                if model.arch == 'music2vec' else ''))
    x = np.zeros((batch_size, 1, N_MELS, N_FRAMES), np.float32)
    with chainer.using_config('train', False), generic_kernels():
        proto = onnx_chainer.export(model, x, filename=None,
                                    opset_version=opset_version,
                                    input_names=['melgram'],
                                    output_names=['scores'])
    # Inference folds BN's gamma and beta into constants: drop the unused
    # initializers.  The weights are initializers; older exporters also list
    # them as graph inputs, which keeps runtimes from folding them.
    used = {name for node in proto.graph.node for name in node.input}
    kept = [i for i in proto.graph.initializer if i.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    weights = {init.name for init in proto.graph.initializer}
    inputs = [i for i in proto.graph.input
              if i.name not in weights and i.name in used]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    onnx.helper.set_model_props(proto, {
        'tags': json.dumps(list(model.tags)),
        'model': str(model.model_name or type(model).__name__),
        'input': 'melgram: Choi log mel-spectrograms, float32 (batch, 1, '
                 '{}, {})'.format(N_MELS, N_FRAMES),
        'output': 'scores: one per tag, in the order of tags'})
    onnx.checker.check_model(proto)
    with atomic_write(path, 'wb', suffix='.onnx') as f:
        f.write(proto.SerializeToString())
    return proto
