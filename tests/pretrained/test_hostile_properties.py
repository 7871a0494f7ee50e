"""Property-based tests (Hypothesis): whatever is changed in a model file
(.npz: an entry's npy header, shape, dtype, size, compression; the _meta
JSON's types, ranges and nesting) or in a Keras weight file (.h5: external
storage and links, virtual datasets, NaN and infinite weights, wrong
shapes and types), ``chainer-tagger tag --model FILE`` either works or
refuses it with one ``error:`` line and exit status 2, never a
traceback, within bounded memory and time.

The files are small copies of one genuine file each; a few dozen examples
per property keep the whole file well under a minute.
"""
import io
import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainer_tagger.models import MusicTaggerCNN
from chainer_tagger.pretrained import save_model_npz

from hostile_files import genuine_h5, meta_npy, rewrite_npz, run_tag

META = {'arch': 'cnn', 'name': None, 'settings': {
    'tags': 'msd', 'bn_mode': 0, 'keras': '1.1-theano', 'per_clip': False}}
PROPERTY = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
#: Memory and time any one run may take (the genuine file takes ~100 MB
#: of NumPy arrays for the CNN's forward pass, under a second or two).
BUDGET, SECONDS = 400 << 20, 30


@pytest.fixture(scope='module')
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@pytest.fixture(scope='module')
def genuine_npz(folder):
    path = folder / 'genuine.npz'
    save_model_npz(path, MusicTaggerCNN(), META)
    with np.load(path) as f:
        entries = {k: (f[k].shape, f[k].dtype) for k in f.files}
    return path, entries


@pytest.fixture(scope='module')
def genuine_weights(folder):
    path = genuine_h5(folder / 'genuine.h5')
    members = []
    with h5py.File(path, 'r') as f:
        f.visititems(lambda name, obj: members.append(name)
                     if isinstance(obj, h5py.Dataset) else None)
    return path, sorted(members)


def check(status, err):
    """Exit 0, or 2 with one ``error:`` line (a file whose layers fit no
    architecture lists them on the lines after it), no traceback."""
    assert 'Traceback' not in err, err
    assert status in (0, 2), (status, err)
    lines = [line for line in err.splitlines()
             if not line.startswith('warning:')]
    if status == 2:
        assert lines and lines[0].startswith('error: '), err
        assert all(line.startswith('  ') for line in lines[1:]), err
        if len(lines) > 1:
            assert 'layer by layer' in lines[0], err
    return lines[0] if lines else ''


# -- .npz model files ------------------------------------------------------

DTYPES = ['<f4', '>f4', '<f8', '<f2', '<i4', '|b1', '|u1', '<c8', '<U3',
          '|O', '|V8', '<M8[s]', [('a', '<f4'), ('b', '<i2')], ('<f4', (2,))]
dims = st.one_of(st.integers(0, 6), st.integers(0, 1 << 40),
                 st.sampled_from([1, 32, 50, 96, 128, 256]))


@st.composite
def npy_entries(draw, entries):
    """An entry of the genuine file and new bytes for it: a header that
    may lie about the shape, dtype and order, and a body that may be
    exact, short or long."""
    key = draw(st.sampled_from(sorted(entries)))
    shape, dtype = entries[key]
    if draw(st.booleans()):
        shape = tuple(draw(st.lists(dims, max_size=4)))
    if draw(st.booleans()):
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    header = {'descr': np.lib.format.dtype_to_descr(np.dtype(dtype)),
              'fortran_order': draw(st.booleans()), 'shape': shape}
    declared = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    body = draw(st.sampled_from(['exact', 'short', 'long', 'none']))
    size = {'exact': declared, 'short': declared // 2,
            'long': declared + 64, 'none': 0}[body]
    stream = io.BytesIO()
    (np.lib.format.write_array_header_1_0 if draw(st.booleans())
     else np.lib.format.write_array_header_2_0)(stream, header)
    data = stream.getvalue()
    if size <= 1 << 20:
        data += bytes(draw(st.sampled_from([0, 0x7f, 0xff])) for _ in
                      range(1)) * size
    return key + '.npy', data


@PROPERTY
@given(data=st.data(), compress=st.booleans())
def test_any_npy_entry_is_loaded_or_refused_in_one_line(
        genuine_npz, folder, capsys, data, compress):
    path, entries = genuine_npz
    name, bytes_ = data.draw(npy_entries(entries))
    bad = rewrite_npz(path, folder / 'bad.npz', {name: bytes_},
                      compress=compress)
    line = check(*run_tag(bad, capsys, BUDGET, SECONDS))
    if line:
        assert str(bad) in line


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 1 << 70) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
SETTING_NAMES = ['tags', 'bn_mode', 'keras', 'running_std_is', 'per_clip',
                 'input_fill', 'dropout', 'pretrained_model', 'x']
setting_values = st.one_of(
    json_values, st.sampled_from([0, 1, 2, 7, -1, 2 ** 63, 0.5, True,
                                  'msd', 'gtzan', '1.0.6-theano', 'std',
                                  'zeros', ['rock'], ['rock'] * 50, []]))


@st.composite
def metas(draw):
    """A ``_meta`` text: the genuine one with settings, fields or types
    changed, a deeply nested document, or any JSON."""
    kind = draw(st.sampled_from(['settings', 'fields', 'nested', 'any']))
    if kind == 'settings':
        settings_ = dict(META['settings'])
        settings_.update(draw(st.dictionaries(
            st.sampled_from(SETTING_NAMES), setting_values, max_size=3)))
        return json.dumps(dict(META, settings=settings_))
    if kind == 'fields':
        meta = dict(META)
        meta.update(draw(st.dictionaries(st.sampled_from(
            ['arch', 'settings', 'name', 'source', 'training']),
            json_values, min_size=1, max_size=3)))
        return json.dumps(meta)
    if kind == 'nested':
        depth = draw(st.integers(1, 200000))
        inner = '{}' if draw(st.booleans()) else '1'
        return json.dumps(dict(META, extra=0)).replace(
            '0}', '[' * depth + inner + ']' * depth + '}', 1) \
            if depth < 5000 else '[' * depth + ']' * depth
    return json.dumps(draw(json_values))


@PROPERTY
@given(text=metas())
def test_any_metadata_is_loaded_or_refused_in_one_line(genuine_npz, folder,
                                                       capsys, text):
    path, _ = genuine_npz
    bad = rewrite_npz(path, folder / 'bad.npz', {'_meta.npy': meta_npy(text)})
    check(*run_tag(bad, capsys, BUDGET, SECONDS))


# -- .h5 Keras weight files ------------------------------------------------

MUTATIONS = ['external storage', 'external link', 'dangling soft link',
             'virtual dataset', 'nan', 'inf', 'shape', 'dtype', 'huge']


def mutate(path, member, mutation, draw):
    with h5py.File(path, 'a') as f:
        data = f[member][()]
        if mutation in ('nan', 'inf'):
            index = draw(st.integers(0, data.size - 1))
            data.flat[index] = np.nan if mutation == 'nan' else \
                draw(st.sampled_from([np.inf, -np.inf]))
            f[member][...] = data
            return
        del f[member]
        if mutation == 'external storage':
            f.create_dataset(member, shape=data.shape, dtype='f4', external=[
                (draw(st.sampled_from(['/etc/passwd', '/proc/self/environ',
                                       str(path)])), 0, h5py.h5f.UNLIMITED)])
        elif mutation == 'external link':
            f[member] = h5py.ExternalLink(str(path), '/' + member)
        elif mutation == 'dangling soft link':
            f[member] = h5py.SoftLink(draw(st.sampled_from(
                ['/nowhere', 'missing', '/' + member + '_gone'])))
        elif mutation == 'virtual dataset':
            layout = h5py.VirtualLayout(shape=data.shape, dtype='f4')
            layout[...] = h5py.VirtualSource(str(path) + '.src', 'x',
                                             shape=data.shape)
            f.create_virtual_dataset(member, layout, fillvalue=0)
        elif mutation == 'shape':
            shape = tuple(draw(st.lists(st.integers(1, 40), min_size=1,
                                        max_size=4)))
            assume(shape != data.shape)
            f.create_dataset(member, data=np.ones(shape, np.float32))
        elif mutation == 'dtype':
            dtype = draw(st.sampled_from(['i4', 'u1', 'c8', 'S4', 'f16'
                                          if hasattr(np, 'float128')
                                          else 'i8']))
            f.create_dataset(member, shape=data.shape, dtype=dtype)
        elif mutation == 'huge':
            f.create_dataset(member, shape=(1 << 30,) + data.shape[1:],
                             dtype='f4', chunks=True)


@PROPERTY
@given(data=st.data(), mutation=st.sampled_from(MUTATIONS))
def test_any_changed_weight_file_is_refused_in_one_line(
        genuine_weights, folder, capsys, data, mutation):
    original, members = genuine_weights
    member = data.draw(st.sampled_from(members))
    path = folder / 'bad.h5'
    shutil.copyfile(original, path)
    mutate(path, member, mutation, data.draw)
    status, err = run_tag(path, capsys, BUDGET, SECONDS)
    line = check(status, err)
    assert status == 2
    assert str(path) in line
    layer = member.split('/')[0]
    if mutation in ('nan', 'inf'):
        assert 'layer ' + layer in line and 'NaN or infinite' in line
    elif mutation == 'shape':
        assert 'differs' in err or member in line or 'shape' in line
    else:
        assert member in line
