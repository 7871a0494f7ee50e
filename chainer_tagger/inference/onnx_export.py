"""Exporting any model of the zoo to ONNX (through the ``onnx_chainer`` of
Chainer 7).

The export traces the graph the model's own ``predict`` runs (its
``forward``: logits and the output function it was trained with, a sigmoid
per tag or a softmax over exclusive classes), or, for a model without
classes (``soundnet8``), the graph of its ``extract`` (``features``), on a
zero input of the model's ``clip_input``: a melgram ``(batch, 1, 96,
1366)`` or a waveform ``(batch, samples)``.  Whatever that graph holds is
exported, and nothing is asked of a model by attribute name:

- the Keras-1 GRU becomes plain ONNX operators (MatMul, Add, HardSigmoid
  with alpha 0.2 and beta 0.5, Tanh, Mul: the reset gate before the
  recurrent matrix, as Keras computed it);
- the Keras BatchNormalization a per-entry scale and shift (mode 0) or the
  batch statistics (mode 2, over the exported batch);
- SoundNet's 1-D convolutions and max pooling (music2vec, ``soundnet8``,
  probes on it) 2-D ones of height 1, as Chainer's standard functions run
  them (:func:`~chainer_tagger.functions.generic_kernels`);
- an LSTM (music2vec's two, or any in the graph): Chainer's CPU graph of
  ``n_step_lstm`` is unrolled over the time steps, a matrix product of the
  input and one of the previous state per step, then Chainer's ``lstm``
  cell, which onnx_chainer has no converter for and this module writes as
  ONNX operators (:func:`_convert_lstm_cell`);
- a linear probe its feature model, the standardization and the linear
  layer.

The batch size is fixed at export time (default 1).  The file's metadata
(``metadata_props``) carries the tag names (``tags``, a JSON list in the
order of the outputs), the output function, the model's name and what its
input is.
"""
import json
import os
import warnings

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


def _convert_lstm_cell(params):
    """ONNX operators for Chainer's ``lstm`` cell
    (:func:`chainer.functions.lstm`), the step of ``n_step_lstm`` on the
    CPU: inputs ``(c_prev, x)``, outputs ``(c, h)``.

    ``x`` ``(batch, 4 * units)`` holds the four gates of each unit side
    by side (unit ``j``'s at columns ``4 j`` to ``4 j + 3``, in the order
    a, i, f, o): ``a = tanh``, ``i, f, o = sigmoid``, ``c = a i + f c_prev``,
    ``h = o tanh(c)``.
    """
    from onnx_chainer import onnx_helper
    func, context = params.func, params.context
    c_prev, x = params.input_names
    batch, width = func.inputs[1].shape
    if func.inputs[0].shape[0] != batch:
        # Sequences of different lengths in one batch: never the case for
        # the fixed windows of the zoo.
        raise UsageError('an LSTM step over a part of its batch cannot be '
                         'exported')
    gb = onnx_helper.GraphBuilder()
    shape = context.add_const(np.array([batch, width // 4, 4], np.int64),
                              'gates_shape')
    gates = gb.op('Split', [gb.op('Reshape', [x, shape])], num_outputs=4,
                  axis=2, split=[1, 1, 1, 1])
    a, i, f, o = [gb.op('Squeeze', [g], axes=[2]) for g in gates]
    a = gb.op('Tanh', [a])
    i, f, o = [gb.op('Sigmoid', [g]) for g in (i, f, o)]
    c_name, h_name = params.output_names
    c = gb.op_output_named('Add', [gb.op('Mul', [a, i]),
                                   gb.op('Mul', [f, c_prev])], [c_name])
    gb.op_output_named('Mul', [o, gb.op('Tanh', [c])], [h_name])
    return gb.nodes()


#: Converters of Chainer functions that onnx_chainer lacks, by the
#: function node's name.
EXTRA_CONVERTERS = {'LSTM': _convert_lstm_cell}


class _Features(chainer.Chain):
    """A model's ``features`` as the graph to trace (a model without
    classes: what ``extract`` gives)."""

    def __init__(self, model):
        super().__init__()
        with self.init_scope():
            self.model = model

    def forward(self, x):
        return self.model.features(x)


def _graph_of(model, batch_size):
    """``(link to trace, input, input name, its description, output name,
    its description)``: the model's ``predict`` graph when it has classes,
    else its ``extract`` graph, on a zero input of its ``clip_input``."""
    kind = model.clip_input.kind
    if kind == 'melgram':
        x = np.zeros((batch_size, 1, N_MELS, N_FRAMES), np.float32)
        about = 'melgram: Choi log mel-spectrograms, float32 (batch, 1, ' \
                '{}, {})'.format(N_MELS, N_FRAMES)
    else:
        x = np.zeros((batch_size, model.clip_input.n_samples), np.float32)
        about = 'waveform: {} Hz samples in [-1, 1], float32 (batch, ' \
                '{})'.format(model.clip_input.sample_rate,
                             model.clip_input.n_samples)
    if model.tags:
        return (model, x, kind, about, 'scores',
                'scores: one per tag, in the order of tags ({})'.format(
                    'softmax over the classes' if model.exclusive_classes
                    else 'a sigmoid per tag'))
    return (_Features(model), x, kind, about, 'features',
            'features: what `chainer-tagger embed` gives ({} values)'.format(
                model.feature_size))


def export_onnx(model, path, batch_size=1, opset_version=11):
    """Write ``model`` (a registry name, a model file or a loaded model)
    to ``path`` as ONNX and check it; returns the ONNX ModelProto.

    Any model exports: the graph traced is what its ``predict`` computes
    (or its ``extract``, for a model without classes); see the module's
    docstring.  A graph holding a function no converter is known for is
    refused with a one-line :class:`UsageError` naming it.
    """
    check_export_options(batch_size, opset_version)
    import onnx
    import onnx_chainer
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    name = str(model.model_name or type(model).__name__)
    link, x, input_name, input_about, output_name, output_about = \
        _graph_of(model, batch_size)
    with chainer.using_config('train', False), generic_kernels(), \
            warnings.catch_warnings():
        # "external_converters is experimental": the interface of Chainer
        # 7.8, pinned.
        warnings.simplefilter('ignore', FutureWarning)
        try:
            proto = onnx_chainer.export(
                link, x, filename=None, opset_version=opset_version,
                input_names=[input_name], output_names=[output_name],
                external_converters=EXTRA_CONVERTERS)
        except ValueError as e:
            if not str(e).endswith(' is not supported'):
                raise
            raise UsageError(
                '{}: cannot export to ONNX: onnx-chainer has no converter '
                'for the Chainer function {} in its graph'.format(
                    name, str(e)[:-len(' is not supported')])) from None
    _drop_unused_initializers(proto)
    props = {'model': name, 'input': input_about, 'output': output_about}
    if model.tags:
        props['tags'] = json.dumps(list(model.tags))
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    with atomic_write(path, 'wb', suffix='.onnx') as f:
        f.write(proto.SerializeToString())
    return proto


def _drop_unused_initializers(proto):
    """Inference folds BN's gamma and beta into constants: drop the unused
    initializers.  The weights are initializers; older exporters also list
    them as graph inputs, which keeps runtimes from folding them."""
    used = {name for node in proto.graph.node for name in node.input}
    kept = [i for i in proto.graph.initializer if i.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    weights = {init.name for init in proto.graph.initializer}
    inputs = [i for i in proto.graph.input
              if i.name not in weights and i.name in used]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
