"""Keras weight files that read outside themselves, or hold what no
weight is, are refused in one line naming the member; nothing of them
lands in the cache.

Each file is a genuine Keras-1 file written here with h5py (it converts)
with one thing changed.  Before these checks, a dataset stored in
``/etc/passwd`` converted with exit status 0 and its bytes became weights.
"""
import h5py
import numpy as np
import pytest

from chainer_tagger.errors import KerasWeightsError
from chainer_tagger.models import convert_weights
from chainer_tagger.pretrained import registry
from chainer_tagger.pretrained.cache import sha256sum
from chainer_tagger.pretrained.keras_h5 import read_keras_h5

from hostile_files import (assert_one_line_refusal, copy, first_weight,
                           genuine_h5, replace_dataset, run_tag)


@pytest.fixture(scope='module')
def original(tmp_path_factory):
    return genuine_h5(tmp_path_factory.mktemp('h5') / 'genuine.h5')


@pytest.fixture
def h5(original, tmp_path):
    return copy(original, tmp_path / 'weights.h5')


def refused_everywhere(path, tmp_path, capsys, *words):
    """``convert`` and ``tag --model`` both refuse ``path`` in one line
    holding ``words``; no converted file is written or cached."""
    status, err = run_tag(path, capsys)
    line = assert_one_line_refusal(status, err, str(path), *words)
    cached = registry.cache_dir() / 'converted-{}.npz'.format(
        sha256sum(path)[:12])
    assert not cached.exists()
    with pytest.raises(KerasWeightsError):
        convert_weights(path, tmp_path / 'out.npz')
    assert not (tmp_path / 'out.npz').exists()
    return line


def test_the_genuine_file_converts(original, tmp_path):
    convert_weights(original, tmp_path / 'out.npz', keras='1.1-theano')
    assert (tmp_path / 'out.npz').is_file()


def test_external_storage_is_refused(h5, tmp_path, capsys):
    member = first_weight(h5)
    replace_dataset(h5, member, dtype='f4',
                    external=[('/etc/passwd', 0, h5py.h5f.UNLIMITED)])
    line = refused_everywhere(h5, tmp_path, capsys, member,
                              'stored in another file', '/etc/passwd')
    assert 'root:' not in line


def test_external_storage_outside_the_weights_is_refused(h5, tmp_path,
                                                         capsys):
    """Not named by any layer, still a part of the file read elsewhere."""
    with h5py.File(h5, 'a') as f:
        f.create_dataset('notes', shape=(10,), dtype='f4',
                         external=[('/etc/hostname', 0, h5py.h5f.UNLIMITED)])
    refused_everywhere(h5, tmp_path, capsys, '/notes', 'another file')


@pytest.mark.parametrize('where', ['layer', 'weight', 'elsewhere'])
def test_external_links_are_refused_without_following_them(
        h5, original, tmp_path, capsys, where):
    other = copy(original, tmp_path / 'other.h5')
    member = {'layer': 'output', 'weight': first_weight(h5),
              'elsewhere': 'extra'}[where]
    with h5py.File(h5, 'a') as f:
        if member in f:
            del f[member]
        f[member] = h5py.ExternalLink(str(other), '/' + member
                                      if where != 'elsewhere' else '/output')
    refused_everywhere(h5, tmp_path, capsys, member, 'external link',
                       str(other))


def test_a_soft_link_to_nothing_is_refused(h5, tmp_path, capsys):
    member = first_weight(h5)
    with h5py.File(h5, 'a') as f:
        del f[member]
        f[member] = h5py.SoftLink('/nowhere/at/all')
    refused_everywhere(h5, tmp_path, capsys, member, 'soft link',
                       'to nothing')


def test_a_soft_link_out_of_the_weights_is_refused(tmp_path, capsys):
    """A whole-model save keeps the weights in ``model_weights``: a weight
    that is a soft link to ``/optimizer_weights/...`` is not one of
    them."""
    flat = genuine_h5(tmp_path / 'flat.h5')
    path = tmp_path / 'model.h5'
    with h5py.File(flat, 'r') as src, h5py.File(path, 'w') as dst:
        root = dst.create_group('model_weights')
        for key, value in src.attrs.items():
            root.attrs[key] = value
        for name in src:
            src.copy(name, root)
        member = first_weight(flat)
        dst.create_group('optimizer_weights').create_dataset(
            'm', data=src[member][()])
        del root[member]
        root[member] = h5py.SoftLink('/optimizer_weights/m')
    refused_everywhere(path, tmp_path, capsys, 'model_weights/' + member,
                       'soft link', 'outside the weights')


def test_a_soft_link_inside_the_weights_is_read(h5, tmp_path):
    member = first_weight(h5)
    with h5py.File(h5, 'a') as f:
        f.move(member, 'stash')
        f[member] = h5py.SoftLink('/stash')
    layers, _ = read_keras_h5(h5)
    convert_weights(h5, tmp_path / 'out.npz', keras='1.1-theano')


def test_a_virtual_dataset_is_refused(h5, original, tmp_path, capsys):
    member = first_weight(h5)
    with h5py.File(original, 'r') as f:
        shape = f[member].shape
    layout = h5py.VirtualLayout(shape=shape, dtype='f4')
    layout[...] = h5py.VirtualSource(str(original), member, shape=shape)
    with h5py.File(h5, 'a') as f:
        del f[member]
        f.create_virtual_dataset(member, layout)
    refused_everywhere(h5, tmp_path, capsys, member, 'virtual dataset')


@pytest.mark.parametrize('dtype,words', [
    ('i4', 'integers'), ('c8', 'complex'), ('f16' if hasattr(np, 'float128')
                                            else 'u1', 'type'),
    (np.dtype([('a', 'f4'), ('b', 'f4')]), 'compound'),
    (h5py.string_dtype(), 'objects'),
    (h5py.ref_dtype, 'objects'),
])
def test_weights_that_are_not_floats_are_refused(h5, tmp_path, capsys,
                                                 dtype, words):
    member = first_weight(h5)
    replace_dataset(h5, member, dtype=dtype)
    refused_everywhere(h5, tmp_path, capsys, member, words)


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('layer', ['conv1', 'bn3', 'output'])
def test_weights_that_are_not_finite_are_refused_at_conversion(
        h5, tmp_path, capsys, value, layer):
    member = first_weight(h5, layer)
    with h5py.File(h5, 'a') as f:
        data = f[member][()]
        data.flat[1] = value
        f[member][...] = data
    line = refused_everywhere(h5, tmp_path, capsys, 'layer ' + layer,
                              'NaN or infinite')
    assert '1 NaN or infinite values' in line


def test_a_weight_declaring_a_huge_shape_is_refused_before_reading(
        h5, tmp_path, capsys):
    """A few bytes on disk (no chunk written) declaring 4 TB."""
    member = first_weight(h5)
    replace_dataset(h5, member, shape=(1 << 20, 1 << 20), dtype='f4',
                    chunks=(1, 1024))
    assert h5.stat().st_size < 10 << 20
    refused_everywhere(h5, tmp_path, capsys, member, 'more than any weight')


def test_layer_names_that_lead_back_into_themselves_are_refused(
        h5, tmp_path, capsys):
    with h5py.File(h5, 'a') as f:
        group = f.create_group('loop')
        group.attrs['layer_names'] = np.array([b'.'])
        names = list(f.attrs['layer_names'])
        f.attrs['layer_names'] = np.array(names[:1] + [b'loop'] + names[1:])
    refused_everywhere(h5, tmp_path, capsys, 'lead back')


def test_an_empty_dataspace_is_refused(h5, tmp_path, capsys):
    member = first_weight(h5)
    with h5py.File(h5, 'a') as f:
        del f[member]
        f.create_dataset(member, data=h5py.Empty('f4'))
    refused_everywhere(h5, tmp_path, capsys, member, 'no array')


@pytest.mark.parametrize('value', [np.int64(3), np.array([[b'a']]),
                                   np.array([1.5, 2.5])])
def test_layer_names_that_are_not_names_are_refused(h5, tmp_path, capsys,
                                                    value):
    with h5py.File(h5, 'a') as f:
        f.attrs['layer_names'] = value
    refused_everywhere(h5, tmp_path, capsys, 'layer_names')
