"""Reading Keras-1 weight files (HDF5) into the Chainer models.

Keras 1 ``save_weights`` writes the names of the model's layers in the
``layer_names`` attribute of the file (or of its ``model_weights`` group),
and one group per layer with that layer's weight names in the group's
``weight_names`` attribute.  A model nested in another (Choi's early
models put their conv blocks in a ``Sequential``) is saved as *one* group
listing the weights of all its layers, trainable ones first; files of
other writers may nest groups that carry their own ``layer_names``.  This
reader walks both, at any depth, in the order the attributes give, and
splits a container's weights into layers by their name prefixes
(``convolution2d_5_W``, ``batchnormalization_7_running_std``).

The layers are then matched to an architecture **by structure**: the
sequence of layer kinds (batch normalization, convolution, GRU, dense)
and weight shapes, built from the tables of
:mod:`chainer_tagger.configuration`, not by layer names, which Keras made
up (``batchnormalization_6``, ``sequential_4``) unless the model named
them (``bn_0_freq``, ``conv1``).  A file that fits no architecture, or
more than one, is refused with what was expected and what was found,
layer by layer.

Files written under the TensorFlow backend name their weights like
TensorFlow variables (``conv1_W:0``, sometimes ``conv1_W_1:0``), files
written under Theano do not (``conv1_W``).  That tells us how the
convolution kernels are stored:

* Theano's ``conv2d`` is a true convolution, so Theano files hold kernels
  that must be flipped in both spatial axes for Chainer's cross-correlation;
* TensorFlow files hold the already-flipped kernels (Keras'
  ``convert_kernel``), in the same ``(out, in, rows, cols)`` shape.
"""
import collections
import os
import posixpath
import re
import warnings

import h5py
import numpy as np

import chainer

from chainer_tagger.configuration import (
    CNN_BLOCKS, CRNN_BLOCKS, CRNN_GRU_UNITS, CRNN_TIME_PADDING, GTZAN_GENRES,
    HDF5_BUILTIN_FILTERS, KERAS_MAX_NESTING, MSD_TAGS, N_FRAMES,
    NPZ_MAX_MEMBERS, TAGGER_CONV_KERNEL, VOCABULARIES, keras_preset)
from chainer_tagger.errors import KerasWeightsError
from chainer_tagger.pretrained.model_file import (rng_untouched,
                                                  save_model_npz)

#: TensorFlow's variable suffixes (``:0``, and ``_1`` for a duplicate).
_SUFFIX = re.compile(r'(_\d+)?(:\d+)?$')
_GRU_WEIGHTS = tuple('{}_{}'.format(w, gate) for gate in 'zrh'
                     for w in ('W', 'U', 'b'))
#: The weights of each kind of layer the taggers have, as Keras 1 names
#: them (after the layer prefix).
LAYER_KINDS = collections.OrderedDict((
    ('batchnorm', ('gamma', 'beta', 'running_mean', 'running_std')),
    ('gru', _GRU_WEIGHTS),
    ('conv2d', ('W', 'b')),
    ('dense', ('W', 'b')),
))
#: Weight names, longest first, to split ``<layer>_<weight>``.
_WEIGHT_NAMES = sorted({w for ws in LAYER_KINDS.values() for w in ws},
                       key=len, reverse=True)

#: One layer with weights of a Keras file: its name in the file, its kind
#: (a key of :data:`LAYER_KINDS`, or ``'unknown'``) and ``{weight: array}``
#: with the short weight names (``'W'``, ``'running_std'``, ``'U_z'``).
KerasLayer = collections.namedtuple('KerasLayer', 'name kind weights')
#: One layer an architecture expects: the name Choi's models gave it (the
#: role), its kind, and ``{weight: shape}`` (None: any length).
ExpectedLayer = collections.namedtuple('ExpectedLayer', 'role kind shapes')

ARCHITECTURE_NAMES = {'crnn': 'MusicTaggerCRNN', 'cnn': 'MusicTaggerCNN'}


def read_keras_h5(path):
    """Read the layers of a Keras-1 weight file.

    The weights come from the file itself and nothing else: a file with an
    external link, a soft link that leads out of its weights or nowhere, a
    dataset stored in another file (external storage) or assembled from
    others (a virtual dataset) is refused before anything is read, and so
    is a weight that is not a plain floating-point array, that uses an
    HDF5 filter needing a plugin, that declares more values than any
    weight of the taggers, or that holds NaN or infinite values (a model
    built from it would only ever give NaN scores).  Each refusal is one
    line naming the file and the member.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    layers : list of KerasLayer
        The layers that have weights, in the file's order (nested
        containers walked depth first).
    backend : {'theano', 'tensorflow'}
        Detected from the weight names.
    """
    try:
        f = h5py.File(path, 'r')
    except OSError as e:
        raise KerasWeightsError('{}: not a readable HDF5 file ({})'.format(
            path, e)) from None
    with f:
        try:
            root = _weights_root(f, path)
            _refuse_outside_storage(f, root, path)
            if 'layer_names' not in root.attrs:
                raise KerasWeightsError(
                    '{}: no Keras layer_names attribute; not a Keras weight '
                    'file'.format(path))
            raw = list(_walk(root, path, _Budget()))
        except KerasWeightsError:
            raise
        except (KeyError, OSError, RuntimeError, ValueError, TypeError,
                AttributeError) as e:
            raise KerasWeightsError('{}: corrupted Keras weight file ({})'
                                    .format(path, e)) from None
    names = [name for _, name, _ in raw]
    backend = ('tensorflow' if names and all(n.endswith(':0') for n in names)
               else 'theano')
    return _split_layers(raw), backend


def _weights_root(f, path):
    """The group that holds the weights: ``model_weights`` (a whole-model
    save) or the file's root, looked at without following any link."""
    link = f.get('model_weights', getlink=True)
    if link is None:
        return f
    if not isinstance(link, h5py.HardLink):
        raise KerasWeightsError(
            '{}: member /model_weights is a link ({}); weights are read '
            'from the file itself only, so the file is refused'.format(
                path, _link_text(link)))
    root = f['model_weights']
    if not isinstance(root, h5py.Group):
        raise KerasWeightsError('{}: member /model_weights is not a group'
                                .format(path))
    return root


def _link_text(link):
    if isinstance(link, h5py.ExternalLink):
        return 'an external link to {}:{}'.format(link.filename, link.path)
    if isinstance(link, h5py.SoftLink):
        return 'a soft link to {}'.format(link.path)
    return type(link).__name__


def _refuse_outside_storage(f, root, path):
    """Refuse a file some of whose members lie outside it (or outside its
    weights), without following any link to find out.

    Every link of the file is visited (hard links only are walked into):
    external links, soft links that point out of the weights group or to
    nothing, and datasets with external storage or virtual mappings are
    refused, naming the first member found."""
    links = []
    f.visititems_links(lambda name, link: links.append((name, link)))
    inside = root.name.rstrip('/') + '/'
    for name, link in links:
        if isinstance(link, h5py.ExternalLink):
            _refuse_member(path, name, _link_text(link))
    for name, link in links:
        if isinstance(link, h5py.SoftLink):
            target = posixpath.normpath(posixpath.join(
                '/' + posixpath.dirname(name), link.path))
            if not (target + '/').startswith(inside) or \
                    f.get(target) is None:
                _refuse_member(path, name, _link_text(link) + ', outside '
                               'the weights or to nothing')
    for name, link in links:
        if isinstance(link, h5py.HardLink):
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                _check_storage(obj, path)


def _refuse_member(path, name, what):
    raise KerasWeightsError(
        '{}: member /{} is {}; weights are read from the file itself only, '
        'so the file is refused'.format(path, name.lstrip('/'), what))


def _check_storage(dataset, path):
    if dataset.external:
        _refuse_member(path, dataset.name, 'stored in another file ({})'
                       .format(dataset.external[0][0]))
    if dataset.is_virtual:
        _refuse_member(path, dataset.name, 'a virtual dataset (mapped '
                       'from other datasets or files)')


def _max_weight_sizes():
    """``(values of the largest weight, values of the largest model)`` of
    the architectures, with the classifier at its widest vocabulary, times
    :data:`_SIZE_SLACK`: a file that declares more fits none of them by
    far (a little more still reads, and is refused listing expected
    against found layers)."""
    widest = max(len(v) for v in VOCABULARIES.values())
    largest, total = 0, 0
    for arch in ARCHITECTURE_NAMES:
        sizes = [int(np.prod([widest if n is None else n for n in shape]))
                 for layer in expected_layers(arch)
                 for shape in layer.shapes.values()]
        largest, total = max(largest, max(sizes)), max(total, sum(sizes))
    return largest * _SIZE_SLACK, total * _SIZE_SLACK


_SIZE_SLACK = 4


class _Budget:
    """What the weights read so far declared, against what any of the
    architectures can hold."""

    def __init__(self):
        self.largest, self.total = _max_weight_sizes()
        self.used = 0

    def take(self, dataset, path):
        size = int(np.prod(dataset.shape, dtype=object))
        if size > self.largest:
            raise KerasWeightsError(
                '{}: member {} declares shape {} ({} values), more than any '
                'weight of the taggers (at most {} are read); the file is '
                'refused'.format(
                    path, dataset.name, dataset.shape, size, self.largest))
        self.used += size
        if self.used > self.total:
            raise KerasWeightsError(
                '{}: its weights declare more than {} values, far more '
                'than any of the taggers holds; the file is refused (at '
                'member {})'.format(path, self.total, dataset.name))


def _names_attribute(node, key, path):
    """The names in attribute ``key`` of ``node`` (``layer_names``,
    ``weight_names``): a list of strings, else a one-line refusal."""
    value = np.asarray(node.attrs[key])
    if value.size == 0:
        return []
    if value.ndim > 1 or value.dtype.kind not in 'SUO' or \
            value.size > NPZ_MAX_MEMBERS:
        raise KerasWeightsError(
            '{}: attribute {} of {} is not a list of names ({} of {})'
            .format(path, key, node.name, value.shape, value.dtype))
    names = []
    for item in value.ravel():
        if not isinstance(item, (str, bytes)):
            raise KerasWeightsError('{}: attribute {} of {} holds {!r}, '
                                    'not a name'.format(path, key, node.name,
                                                        item))
        names.append(_text(item))
    return names


def _walk(group, path, budget, depth=0, seen=()):
    """``(group name, weight name, array)`` of every weight under
    ``group``, in the order of the ``layer_names`` attributes."""
    if depth >= KERAS_MAX_NESTING or group.id in seen:
        raise KerasWeightsError(
            '{}: the layer_names of {} lead back into themselves or nest '
            'deeper than {} groups; the file is refused'.format(
                path, group.name, KERAS_MAX_NESTING))
    seen = seen + (group.id,)
    for layer in _names_attribute(group, 'layer_names', path):
        sub = group.get(layer)
        if sub is None:
            raise KerasWeightsError('{}: layer {!r} of {} is not in the file'
                                    .format(path, layer, group.name))
        if not isinstance(sub, h5py.Group):
            raise KerasWeightsError('{}: layer {!r} of {} is not a group'
                                    .format(path, layer, group.name))
        if 'layer_names' in sub.attrs:
            yield from _walk(sub, path, budget, depth + 1, seen)
            continue
        if 'weight_names' not in sub.attrs:
            continue
        for name in _names_attribute(sub, 'weight_names', path):
            dataset = sub.get(name)
            if not isinstance(dataset, h5py.Dataset):
                raise KerasWeightsError(
                    '{}: weight {!r} of layer {!r} is {}'.format(
                        path, name, layer, 'not in the file'
                        if dataset is None else 'not a dataset'))
            yield layer, name, _read_weight(dataset, layer, path, budget)


def _read_weight(dataset, layer, path, budget):
    """The array of one weight, once its storage, type, filters and size
    have been checked; refused when it is not all finite."""
    _check_storage(dataset, path)
    dtype = dataset.dtype
    if dtype.kind != 'f' or dtype.itemsize not in (2, 4, 8) or \
            dtype.fields is not None or dataset.shape is None:
        raise KerasWeightsError(
            '{}: member {} holds {} ({}); Keras weights are arrays of '
            'float16, float32 or float64'.format(
                path, dataset.name, 'no array' if dataset.shape is None
                else 'values of type {}'.format(dtype), _dtype_kind(dtype)))
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in HDF5_BUILTIN_FILTERS:
            raise KerasWeightsError(
                '{}: member {} is encoded by HDF5 filter {}, which is not '
                'built in (it would load a plugin); the file is refused'
                .format(path, dataset.name, code))
    budget.take(dataset, path)
    value = np.asarray(dataset[()])
    bad = np.count_nonzero(~np.isfinite(value))
    if bad:
        raise KerasWeightsError(
            '{}: layer {}: weight {} holds {} NaN or infinite values (of '
            '{}); a model built from it would give NaN scores, so the file '
            'is refused'.format(path, layer, dataset.name.rsplit('/', 1)[-1],
                                bad, value.size))
    return value


def _dtype_kind(dtype):
    if dtype.fields is not None:
        return 'a compound type'
    if dtype.hasobject:
        return 'objects: strings or references'
    return {'f': 'floating point', 'i': 'integers', 'u': 'integers',
            'b': 'booleans', 'c': 'complex numbers', 'S': 'bytes',
            'U': 'text', 'V': 'raw or compound'}.get(dtype.kind, dtype.kind)


def _text(value):
    return value.decode('utf8') if isinstance(value, bytes) else str(value)


def split_weight_name(name, group):
    """``(layer, weight)`` of a Keras-1 weight name: ``'bn_0_freq'`` and
    ``'running_std'`` for ``'bn_0_freq_running_std_1:0'``.

    A name that ends in none of the weights of :data:`LAYER_KINDS` stays
    in its group's layer (or alone, when it does not start with the
    group's name).
    """
    full = _SUFFIX.sub('', name)
    for weight in _WEIGHT_NAMES:
        if full.endswith('_' + weight):
            return full[:-len(weight) - 1], weight
    if full.startswith(group + '_'):
        return group, full[len(group) + 1:]
    return full, full


def _split_layers(raw):
    """Group the weights into layers by prefix, in order of first
    appearance (a container lists its BN moving statistics after all the
    trainable weights)."""
    layers = collections.OrderedDict()
    for group, name, value in raw:
        layer, weight = split_weight_name(name, group)
        layers.setdefault(layer, collections.OrderedDict())[weight] = value
    return [KerasLayer(name, layer_kind(weights), weights)
            for name, weights in layers.items()]


def layer_kind(weights):
    """The kind of layer that has these weights: a key of
    :data:`LAYER_KINDS`, or ``'unknown'``.  ``W`` and ``b`` are a
    convolution when ``W`` has 4 axes, a dense layer when it has 2."""
    names = set(weights)
    for kind, expected in LAYER_KINDS.items():
        if names == set(expected):
            if kind in ('conv2d', 'dense'):
                ndim = np.ndim(weights['W'])
                if ndim != (4 if kind == 'conv2d' else 2):
                    continue
            return kind
    return 'unknown'


def _bn(role, size):
    return ExpectedLayer(role, 'batchnorm', {
        w: (size,) for w in LAYER_KINDS['batchnorm']})


def _conv_blocks(blocks):
    layers, in_channels = [], 1
    k = TAGGER_CONV_KERNEL
    for i, (channels, _) in enumerate(blocks, 1):
        layers.append(ExpectedLayer('conv{}'.format(i), 'conv2d', {
            'W': (channels, in_channels, k, k), 'b': (channels,)}))
        layers.append(_bn('bn{}'.format(i), channels))
        in_channels = channels
    return layers


def _gru(role, in_size, units):
    shapes = {}
    for gate in 'zrh':
        shapes['W_' + gate] = (in_size, units)
        shapes['U_' + gate] = (units, units)
        shapes['b_' + gate] = (units,)
    return ExpectedLayer(role, 'gru', shapes)


def _dense(role, in_size):
    return ExpectedLayer(role, 'dense', {'W': (in_size, None), 'b': (None,)})


def expected_layers(arch):
    """The layers with weights of an architecture, in order, as
    :class:`ExpectedLayer`; the classifier's width is left open."""
    if arch == 'crnn':
        features = CRNN_BLOCKS[-1][0]
        return ([_bn('bn_0_freq', N_FRAMES + 2 * CRNN_TIME_PADDING)]
                + _conv_blocks(CRNN_BLOCKS)
                + [_gru('gru1', features, CRNN_GRU_UNITS),
                   _gru('gru2', CRNN_GRU_UNITS, CRNN_GRU_UNITS),
                   _dense('output', CRNN_GRU_UNITS)])
    if arch == 'cnn':
        return ([_bn('bn_0_freq', N_FRAMES)] + _conv_blocks(CNN_BLOCKS)
                + [_dense('output', CNN_BLOCKS[-1][0])])
    raise KerasWeightsError('no Keras layout for architecture {!r}'.format(
        arch))


def _fits(expected, found):
    if found is None or expected is None or found.kind != expected.kind:
        return False
    if set(found.weights) != set(expected.shapes):
        return False
    return all(_shape_fits(shape, np.shape(found.weights[weight]))
               for weight, shape in expected.shapes.items())


def _found_shapes(layer):
    return {w: np.shape(v) for w, v in layer.weights.items()}


def _focus(expected, found):
    """The weight both sides are shown by: the first weight whose shape
    differs when the two layers have the same kind and weight names (a
    GRU's ``U_r``, a BN's ``running_std``), else the kind's main weight."""
    if expected is None or found is None or found.kind != expected.kind \
            or set(found.weights) != set(expected.shapes):
        return None
    actual = _found_shapes(found)
    for weight, shape in expected.shapes.items():
        if not _shape_fits(shape, actual[weight]):
            return weight
    return None


def _shape_fits(expected, actual):
    return len(actual) == len(expected) and all(
        e is None or e == a for e, a in zip(expected, actual))


def _describe_expected(layer, focus=None):
    return '{}: {}'.format(layer.role, _shapes(layer.kind, layer.shapes,
                                               focus))


def _describe_found(layer, focus=None):
    return '{}: {}'.format(layer.name, _shapes(layer.kind,
                                               _found_shapes(layer), focus))


#: The weight a layer of each kind is shown by, unless another differs.
_MAIN_WEIGHT = {'batchnorm': 'gamma', 'conv2d': 'W', 'dense': 'W',
                'gru': 'W_z'}


def _shapes(kind, shapes, focus=None):
    def text(shape):
        return '({})'.format(', '.join('*' if n is None else str(n)
                                       for n in shape) +
                             (',' if len(shape) == 1 else ''))
    weight = focus or _MAIN_WEIGHT.get(kind)
    if weight == 'gamma' and weight in shapes:  # every BN weight alike
        return '{} {}'.format(kind, text(shapes[weight]))
    if weight in shapes:
        return '{} {} {}'.format(kind, weight, text(shapes[weight]))
    return '{} {}'.format(kind, ', '.join(
        '{} {}'.format(w, text(s)) for w, s in shapes.items()))


def compare_layers(found, expected):
    """Lines that list ``expected`` against ``found`` layer by layer, and
    whether every layer fits (kind, weight names and shapes)."""
    lines, ok = [], len(found) == len(expected)
    for i in range(max(len(found), len(expected))):
        e = expected[i] if i < len(expected) else None
        f = found[i] if i < len(found) else None
        fits = _fits(e, f)
        ok = ok and fits
        focus = None if fits else _focus(e, f)
        lines.append('  {:2d}. expected {}; found {}{}'.format(
            i + 1, _describe_expected(e, focus) if e else 'nothing',
            _describe_found(f, focus) if f else 'nothing',
            '' if fits else '  <- differs'))
    return lines, ok


def match_architecture(layers, arch=None, layouts=None):
    """The architecture whose structure the file's layers have.

    Parameters
    ----------
    layers : list of KerasLayer
    arch : str, optional
        Only compare with this architecture.
    layouts : dict, optional
        ``{arch: [ExpectedLayer, ...]}``; by default the taggers'
        (:func:`expected_layers`).

    Returns
    -------
    arch : str
    roles : dict
        ``{role: KerasLayer}`` (``'bn_0_freq'``, ``'conv1'``, ``'bn1'``,
        ..., ``'gru1'``, ``'output'``).

    Raises
    ------
    KerasWeightsError
        When no architecture fits (listing the closest one's layers against
        the file's, layer by layer) or more than one does.
    """
    if layouts is None:
        layouts = {a: expected_layers(a)
                   for a in ([arch] if arch else ARCHITECTURE_NAMES)}
    elif arch is not None:
        layouts = {arch: layouts[arch]}
    comparisons = {a: compare_layers(layers, e) for a, e in layouts.items()}
    fitting = [a for a, (_, ok) in comparisons.items() if ok]
    if len(fitting) > 1:
        raise KerasWeightsError(
            'ambiguous: the layers fit {} alike; say which with --arch '
            '(arch=...)'.format(' and '.join(_arch_name(a)
                                             for a in fitting)))
    if not fitting:
        closest = max(comparisons, key=lambda a: sum(
            not line.endswith('differs') for line in comparisons[a][0]))
        if not layers:
            found = 'no layers with weights'
        else:
            found = 'its layers do not match'
        raise KerasWeightsError(
            'cannot tell the architecture: {} {}; expected against found, '
            'layer by layer, for {}:\n{}'.format(
                found, ' or '.join(_arch_name(a) for a in layouts),
                _arch_name(closest), '\n'.join(comparisons[closest][0])))
    arch = fitting[0]
    return arch, {e.role: f for e, f in zip(layouts[arch], layers)}


def _arch_name(arch):
    return '{} ({})'.format(ARCHITECTURE_NAMES.get(arch, arch), arch)


def detect_architecture(layers, arch=None):
    """The chainer-tagger architecture and settings of a weight file.

    Returns
    -------
    arch : {'crnn', 'cnn'}
    settings : dict
        ``tags`` and ``bn_mode`` read off the file.  A conv-block BN whose
        moving statistics were never updated (mean 0, std 1 everywhere) was a
        mode-2 layer.  The Keras version (``keras``) cannot be read off the
        file and is not included.
    """
    arch, roles = match_architecture(layers, arch)
    n_out = np.shape(roles['output'].weights['W'])[-1]
    tags = {len(MSD_TAGS): 'msd', len(GTZAN_GENRES): 'gtzan'}.get(n_out)
    if tags is None:
        raise KerasWeightsError('output layer has {} units; known '
                                'vocabularies have 50 or 10'.format(n_out))
    n_blocks = len(CRNN_BLOCKS if arch == 'crnn' else CNN_BLOCKS)
    untouched = all(
        np.all(roles[b].weights['running_mean'] == 0)
        and np.all(roles[b].weights['running_std'] == 1)
        for b in ('bn1', 'bn{}'.format(n_blocks)))
    return arch, {'tags': tags, 'bn_mode': 2 if untouched else 0}


def _flip(kernel):
    return np.ascontiguousarray(kernel[..., ::-1, ::-1])


def assign_keras_weights(model, layers, backend):
    """Copy the weights of a Keras file's layers into ``model``, matched
    by structure to the model's architecture, checking every shape.

    Raises
    ------
    KerasWeightsError
        Listing expected and found layers when the file's structure is not
        the model's, or naming the layer and both shapes when a weight does
        not fit the model.
    """
    _, roles = match_architecture(layers, model.arch)

    def put(param, value, where):
        target = param.array if isinstance(param, chainer.Variable) \
            else param
        value = np.asarray(value, dtype=target.dtype)
        if target.shape != value.shape:
            raise KerasWeightsError(
                'layer {}: the file has shape {}, the model expects {}'
                .format(where, value.shape, target.shape))
        target[...] = model.device.send(value)

    def put_bn(link, role):
        w = roles[role].weights
        for key in LAYER_KINDS['batchnorm']:
            put(getattr(link, key), w[key], '{}/{}'.format(role, key))

    put_bn(model.bn_0_freq, 'bn_0_freq')
    n_blocks = len(CRNN_BLOCKS if model.arch == 'crnn' else CNN_BLOCKS)
    for i in range(1, n_blocks + 1):
        block = model['block{}'.format(i)]
        w = roles['conv{}'.format(i)].weights
        kernel = w['W'] if backend == 'tensorflow' else _flip(w['W'])
        put(block.conv.W, kernel, 'conv{}/W'.format(i))
        put(block.conv.b, w['b'], 'conv{}/b'.format(i))
        put_bn(block.bn, 'bn{}'.format(i))
    for gru_name in ('gru1', 'gru2') if model.arch == 'crnn' else ():
        w = roles[gru_name].weights
        gru = model[gru_name]
        gates = ('z', 'r', 'h')
        put(gru.W, np.concatenate([w['W_' + g] for g in gates], axis=1),
            gru_name + '/W')
        put(gru.U, np.concatenate([w['U_' + g] for g in gates], axis=1),
            gru_name + '/U')
        put(gru.b, np.concatenate([w['b_' + g] for g in gates]),
            gru_name + '/b')
    top = roles['output'].weights
    put(model.output.W, np.asarray(top['W']).T, 'output/W')
    put(model.output.b, top['b'], 'output/b')
    return model


def convert_keras_h5(src, dst, model_class, settings, name=None,
                     sha256=None):
    """Convert a Keras-1 weight file into a chainer-tagger ``.npz``.

    Parameters
    ----------
    src : path-like
        The Keras ``.h5``; Theano or TensorFlow kernel order is detected.
    dst : path-like
        The ``.npz`` to write (atomically).
    model_class : type
        The architecture to fill (its ``arch`` is recorded).
    settings : dict
        Its constructor settings (tags, BN mode, Keras preset).
    name : str, optional
        Registry name, recorded in the file.
    sha256 : str, optional
        The source's checksum, recorded in the file.

    Returns
    -------
    meta : dict
        What was written to the file's ``_meta``.
    """
    layers, backend = read_keras_h5(src)
    with rng_untouched():
        model = model_class(**settings)
    try:
        assign_keras_weights(model, layers, backend)
    except KerasWeightsError as e:
        raise KerasWeightsError('{}: {}'.format(src, e)) from None
    meta = {'arch': model_class.arch, 'settings': settings, 'name': name,
            'source': {'path': os.path.basename(os.fspath(src)),
                       'sha256': sha256, 'backend': backend}}
    save_model_npz(dst, model, meta)
    return meta


def warn_unknown_keras_version(path, default):
    """Say which Keras preset an unregistered file is read with, and why."""
    preset = keras_preset(default)
    warnings.warn(
        '{}: not a registered weight file, so the Keras version that wrote '
        'it is unknown; reading it as Keras {} ({}: running_std is a {}, '
        'eps {:g}). Choose the release it was trained or run with by '
        '--keras (keras=...), e.g. 1.0.6-theano for files written by Keras '
        '<= 1.0.6 on Theano'.format(
            path, preset.name, preset.versions, preset.running_std,
            preset.eps),
        stacklevel=3)
