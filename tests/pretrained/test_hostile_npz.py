"""Model files (.npz) that declare more than they hold, more than the model
has, or settings no model takes, are refused in one line (exit status 2)
before anything is allocated for them.

Each file is a genuine CNN tagger model file with one entry changed.
Before these checks, a member declaring 360 GB gave ``_ArrayMemoryError``
with a traceback, a compressed member inflating to gigabytes was read
whole before it was refused, a BN mode 7 and deeply nested metadata gave
tracebacks.
"""
import json
import time
import zipfile
import zlib

import numpy as np
import pytest

from chainer_tagger.errors import ModelFileError
from chainer_tagger.models import (ARCHITECTURES, MusicTaggerCNN,
                                   load_model)
from chainer_tagger.pretrained import save_model_npz
from chainer_tagger.pretrained.model_file import (
    load_npz_safely, read_model_meta, validate_meta)

from hostile_files import (assert_one_line_refusal, meta_npy, npy_bytes,
                           rewrite_npz, run_tag)

META = {'arch': 'cnn', 'name': None, 'settings': {
    'tags': 'msd', 'bn_mode': 0, 'keras': '1.1-theano', 'per_clip': False}}


@pytest.fixture(scope='module')
def genuine(tmp_path_factory):
    path = tmp_path_factory.mktemp('npz') / 'genuine.npz'
    save_model_npz(path, MusicTaggerCNN(), META)
    return path


def test_the_genuine_file_loads(genuine, capsys):
    status, err = run_tag(genuine, capsys)
    assert status == 0, err


def _header(shape, descr='<f4', fortran=False):
    return {'descr': descr, 'fortran_order': fortran, 'shape': shape}


def test_an_entry_declaring_360_gb_is_refused_at_once(genuine, tmp_path,
                                                      capsys):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz', {
        'output/W.npy': npy_bytes([], _header((300000, 300000)))})
    assert bad.stat().st_size < 10 << 20
    status, err = run_tag(bad, capsys, seconds=20)
    assert_one_line_refusal(status, err, "'output/W'", '(300000, 300000)')


def _bomb(shape):
    """An .npy of zeros of ``shape`` (float32), deflated: a few kB per
    hundred MB."""
    header = npy_bytes([], _header(shape))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [compressor.compress(header)]
    block = bytes(1 << 22)
    left = int(np.prod(shape)) * 4
    while left:
        n = min(left, len(block))
        chunks.append(compressor.compress(block[:n]))
        left -= n
    chunks.append(compressor.flush())
    return header, b''.join(chunks), int(np.prod(shape)) * 4 + len(header)


def _write_raw_deflated(src, dst, name, header, deflated, size):
    """``src`` with entry ``name`` replaced by an already deflated stream
    (its declared uncompressed ``size`` is the true one)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, 'w') as new:
        for info in old.infolist():
            if info.filename != name:
                new.writestr(info.filename, old.read(info))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        # writestr would deflate again; write the stream as it is.
        info.file_size, info.compress_size = size, len(deflated)
        info.CRC = 0  # never checked: the entry is refused before reading
        with new._lock:
            new.fp.seek(new.start_dir)
            info.header_offset = new.fp.tell()
            new.fp.write(info.FileHeader(False))
            new.fp.write(deflated)
            new.start_dir = new.fp.tell()
            new.filelist.append(info)
            new.NameToInfo[name] = info
            new._didModify = True
    return dst


@pytest.mark.parametrize('name,shape', [
    ('output/W.npy', (50 * 6000, 256)),   # an entry the model has
    ('junk.npy', (75 << 20,)),             # one it does not
])
def test_a_small_member_that_inflates_is_refused_before_inflating(
        genuine, tmp_path, capsys, name, shape):
    header, deflated, size = _bomb(shape)
    bad = _write_raw_deflated(genuine, tmp_path / 'bomb.npz', name, header,
                              deflated, size)
    assert bad.stat().st_size < genuine.stat().st_size + (1 << 20)
    status, err = run_tag(bad, capsys, budget_bytes=100 << 20, seconds=20)
    assert_one_line_refusal(status, err, repr(name[:-4]))


def test_a_zip_entry_size_that_disagrees_with_its_header_is_refused(
        genuine, tmp_path, capsys):
    w = np.zeros((50, 256), np.float32)
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz', {
        'output/W.npy': npy_bytes(w)[:-100]})
    status, err = run_tag(bad, capsys)
    assert_one_line_refusal(status, err, "'output/W'", 'declares')


@pytest.mark.parametrize('value,words', [
    (np.zeros((256, 50), np.float32), 'expects float32 (50, 256)'),
    (np.zeros((50, 256), np.int32), 'int32'),
    (np.zeros((50, 256), np.complex64), 'complex64'),
    (np.zeros((50, 256), [('a', 'f4')]), 'numbers and text only'),
    (np.zeros((50, 256), 'U1'), '<U1'),
    (np.zeros((50, 256), bool), 'bool'),
    (np.zeros((50, 256), 'M8[s]'), 'numbers and text only'),
])
def test_an_entry_of_another_shape_or_type_is_refused(genuine, tmp_path,
                                                      capsys, value, words):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      {'output/W.npy': npy_bytes(value)})
    status, err = run_tag(bad, capsys)
    assert_one_line_refusal(status, err, "'output/W'", words)


def test_a_header_declaring_a_long_header_is_refused(genuine, tmp_path,
                                                     capsys):
    data = b'\x93NUMPY\x02\x00' + (1 << 30).to_bytes(4, 'little') + \
        b'{' * 1000
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz', {'output/W.npy': data})
    status, err = run_tag(bad, capsys, seconds=20)
    assert_one_line_refusal(status, err, "'output/W'", 'header')


@pytest.mark.parametrize('data', [
    b'', b'\x93NUMPY', b'\x93NUMPY\x01\x00\x10\x00{"descr": ',
    b'not an array at all',
    b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, "
    b"'shape': (-5, 10), }     \n",
    b"\x93NUMPY\x01\x00\x30\x00" + b'(' * 48,
])
def test_garbled_headers_are_refused(genuine, tmp_path, capsys, data):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz', {'output/W.npy': data})
    status, err = run_tag(bad, capsys)
    assert_one_line_refusal(status, err, "'output/W'")


def test_nan_weights_are_refused_at_load(genuine, tmp_path, capsys):
    w = np.ones((50, 256), np.float32)
    w[3, 4] = np.nan
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      {'output/W.npy': npy_bytes(w)})
    status, err = run_tag(bad, capsys)
    assert_one_line_refusal(status, err, "'output/W'", '1 NaN or infinite')


def test_entries_that_are_not_arrays_or_twice_are_refused(genuine, tmp_path,
                                                          capsys):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      add={'README.txt': b'hello'})
    assert_one_line_refusal(*run_tag(bad, capsys), 'README.txt')
    with pytest.warns(UserWarning, match='Duplicate name'):
        bad = rewrite_npz(genuine, tmp_path / 'twice.npz', add={
            'output/W.npy': npy_bytes(np.zeros((50, 256), np.float32))})
    assert_one_line_refusal(*run_tag(bad, capsys), 'twice')


@pytest.mark.parametrize('settings,words', [
    ({'bn_mode': 7}, "'bn_mode' must be one of 0, 2, not 7"),
    ({'bn_mode': 2.0}, "'bn_mode' must be int"),
    ({'bn_mode': True}, "'bn_mode' must be int"),
    ({'keras': '9.9'}, "'keras' must be one of"),
    ({'running_std_is': 'neither'}, "'running_std_is'"),
    ({'tags': 'imagenet'}, "'tags' must be one of"),
    ({'tags': []}, "'tags' lists 0 names"),
    ({'tags': ['rock', 3]}, "'tags' must list strings"),
    ({'tags': ['x' * 1000]}, "'tags' must list strings"),
    ({'tags': ['t'] * 20000}, "'tags' lists 20000 names"),
    ({'per_clip': 'yes'}, "'per_clip' must be bool"),
    ({'pretrained_model': '/etc/passwd'}, "'pretrained_model' is not one"),
])
def test_settings_out_of_range_are_refused(genuine, tmp_path, capsys,
                                           settings, words):
    meta = dict(META, settings=dict(META['settings'], **settings))
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      {'_meta.npy': meta_npy(meta)})
    assert_one_line_refusal(*run_tag(bad, capsys), words)


@pytest.mark.parametrize('text,words', [
    ('[' * 100000 + ']' * 100000, 'nests deeper'),
    (json.dumps(dict(META, x=json.loads('[' * 20 + ']' * 20))),
     'nests deeper'),
    ('{"arch": "cnn", "settings": {"bn_mode": NaN}}', 'NaN'),
    ('{"arch": "cnn", "settings": {"bn_mode": Infinity}}', 'Infinity'),
    ('[1, 2]', 'not a JSON object'),
    ('{"arch": "cnn", "settings": []}', 'settings are not'),
    ('{"arch": ["cnn"], "settings": {}}', 'unknown architecture'),
    ('{"arch": "cnn", "settings": {}, "name": {"a": 1}}', "'name' must be"),
    ('{"arch": "cnn", "settings": {}, "source": [1]}', 'source must be'),
    ('{"arch": "cnn", "settings": {}, "source": {"sha256": 5}}',
     "'source.sha256' must be"),
    ('{"arch": "cnn", "settings": {}, "training": {"seed": -1}}',
     "'training.seed' must be in"),
    ('x' * ((1 << 20) + 1), 'characters'),
])
def test_bad_metadata_is_refused(genuine, tmp_path, capsys, text, words):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      {'_meta.npy': meta_npy(text)})
    start = time.perf_counter()
    assert_one_line_refusal(*run_tag(bad, capsys), words)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize('value', [np.array(['a', 'b']), np.array(3),
                                   np.array(b'{}')])
def test_metadata_that_is_not_a_text_is_refused(genuine, tmp_path, capsys,
                                                value):
    bad = rewrite_npz(genuine, tmp_path / 'bad.npz',
                      {'_meta.npy': npy_bytes(value)})
    assert_one_line_refusal(*run_tag(bad, capsys), "'_meta'")


def test_the_ranges_of_other_architectures(tmp_path):
    def refused(arch, settings, words):
        with pytest.raises(ModelFileError, match=words):
            validate_meta({'arch': arch, 'settings': settings},
                          ARCHITECTURES, 'f.npz')
    refused('music2vec', {'dropout': 1.0}, r"'dropout' must be in \[0, 1\)")
    refused('music2vec', {'dropout': -0.1}, "'dropout'")
    refused('music2vec', {'input_fill': 'noise'}, "'input_fill' must be one")
    refused('crnn', {'input_fill': 'noise'}, "'input_fill' must be one")
    refused('probe', {'input_fill': 'x'}, "'input_fill'")
    refused('soundnet', {'tags': 'msd'}, "not one a soundnet model takes")
    validate_meta({'arch': 'music2vec', 'settings': {'dropout': 0.5}},
                  ARCHITECTURES, 'f.npz')


def test_a_trainer_snapshot_still_resumes_through_the_checks(tmp_path):
    """Optimizer states the target has not made yet are read (bounded),
    states it has must have its shapes."""
    import chainer
    model = MusicTaggerCNN()
    optimizer = chainer.optimizers.Adam()
    optimizer.setup(model)
    model.cleargrads()
    for p in model.params():
        p.grad = np.ones_like(p.array)
    optimizer.update()
    chainer.serializers.save_npz(str(tmp_path / 'snap.npz'), optimizer)
    fresh = chainer.optimizers.Adam()
    fresh.setup(MusicTaggerCNN())
    load_npz_safely(tmp_path / 'snap.npz', fresh)
    assert fresh.t == 1


def test_sound8_with_nan_weights_is_refused(tmp_path):
    """The pickled SoundNet weights, read with --trust-unverified-pickle:
    NaN weights are refused at conversion, naming the layer."""
    from chainer_tagger.configuration import SOUNDNET_LAYERS
    from chainer_tagger.models.soundnet import SoundNet8
    from chainer_tagger.pretrained.soundnet_npy import convert_soundnet_npy
    net = SoundNet8()
    layers = {}
    for name in [layer.name for layer in SOUNDNET_LAYERS] + ['conv8',
                                                             'conv8_2']:
        w = net[name].W.array
        layers[name] = {'weights': w.transpose(2, 1, 0)[:, None],
                        'biases': net[name].b.array}
        if 'bn' + name[4:] in net._children:
            bn = net['bn' + name[4:]]
            layers[name].update(gamma=bn.gamma.array, beta=bn.beta.array,
                                mean=bn.avg_mean, var=bn.avg_var)
    layers['conv3']['biases'] = layers['conv3']['biases'].copy()
    layers['conv3']['biases'][0] = np.inf
    path = tmp_path / 'sound8.npy'
    np.save(path, np.array(layers, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match='conv3/biases holds NaN'):
        convert_soundnet_npy(path, tmp_path / 'out.npz', SoundNet8,
                             trust_unverified=True)
    assert not (tmp_path / 'out.npz').exists()
    layers['conv3']['biases'][0] = 0
    del layers['conv5']
    np.save(path, np.array(layers, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match='not the layers of SoundNet'):
        convert_soundnet_npy(path, tmp_path / 'out.npz', SoundNet8,
                             trust_unverified=True)


def test_read_model_meta_and_load_never_leak_other_errors(genuine):
    assert read_model_meta(genuine)['arch'] == 'cnn'
    assert load_model(str(genuine)).arch == 'cnn'
