"""Exporting the taggers to ONNX (through the ``onnx_chainer`` of Chainer 7).

The export traces the model's Chainer graph on a zero melgram: the Keras-1
GRU becomes plain ONNX operators (MatMul, Add, HardSigmoid with alpha 0.2
and beta 0.5, Tanh, Mul: the reset gate before the recurrent matrix, as
Keras computed it), the Keras BatchNormalization a per-entry scale and
shift (mode 0) or the batch statistics (mode 2, over the exported batch).
The batch size is fixed at export time (default 1).
"""
import os

import numpy as np

import chainer

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import N_FRAMES, N_MELS
from chainer_tagger.errors import UsageError
from chainer_tagger.functions import generic_kernels
from chainer_tagger.models import load_model


def export_onnx(model, path, batch_size=1, opset_version=11):
    """Write ``model`` (a registry name, a model file or a loaded tagger)
    to ``path`` as ONNX and check it; returns the ONNX ModelProto."""
    import onnx
    import onnx_chainer
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if model.clip_input.kind != 'melgram' or not model.tags:
        raise UsageError('ONNX export is for the melgram taggers (CRNN and '
                         'CNN models)')
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
    onnx.checker.check_model(proto)
    with atomic_write(path, 'wb', suffix='.onnx') as f:
        f.write(proto.SerializeToString())
    return proto
