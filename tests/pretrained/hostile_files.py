"""Building hostile model and weight files for the tests: a genuine file,
then one thing changed in it (written with h5py, or by rewriting the zip
entries of an ``.npz``), and running the command line on it."""
import io
import json
import shutil
import time
import tracemalloc
import zipfile

import h5py
import numpy as np

from chainer_tagger.cli import main

from test_keras_h5_structure import random_layers, write_named

from conftest import AUDIO

MELGRAM = str(AUDIO / 'bensound-cute.melgram.npy')


def genuine_h5(path, arch='cnn'):
    """A Keras-1 file of ``arch`` (named layers, random weights) that
    converts."""
    write_named(path, random_layers(arch, mode2=False))
    return path


def replace_dataset(path, member, **options):
    """Replace dataset ``member`` of ``path`` by one made with
    ``h5py.Group.create_dataset(**options)`` (its old shape by default)."""
    with h5py.File(path, 'a') as f:
        shape = f[member].shape
        del f[member]
        options.setdefault('shape', shape)
        f.create_dataset(member, **options)


def first_weight(path, layer='output'):
    """The full name of ``layer``'s first weight in ``path``."""
    with h5py.File(path, 'r') as f:
        return '{}/{}'.format(layer, f[layer].attrs['weight_names'][0]
                              .decode())


def npy_bytes(array, header=None, version=(1, 0)):
    """An ``.npy``: ``array``'s, or ``header`` (a dict) followed by
    ``array``'s bytes."""
    stream = io.BytesIO()
    if header is None:
        np.save(stream, array)
    else:
        np.lib.format.write_array_header_1_0(stream, header) \
            if version == (1, 0) else \
            np.lib.format.write_array_header_2_0(stream, header)
        stream.write(np.asarray(array).tobytes())
    return stream.getvalue()


def rewrite_npz(src, dst, replace=(), add=(), compress=False):
    """``src`` with entries replaced (``{name: bytes}``, e.g.
    ``'output/W.npy'``; None removes it) and others added."""
    replace = dict(replace)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, 'w') as new:
        for info in old.infolist():
            data = replace.get(info.filename, old.read(info))
            if data is not None:
                new.writestr(info.filename, data, compress_type=method)
        for name, data in dict(add).items():
            new.writestr(name, data, compress_type=method)
    return dst


def meta_npy(meta):
    """The ``_meta`` entry of a document (a dict, or any JSON text)."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return npy_bytes(np.array(text))


def run_tag(model, capsys, budget_bytes=400 << 20, seconds=60):
    """``chainer-tagger tag --model MODEL`` on one melgram: ``(status,
    stderr)``, checking that it never raised, kept Python's and NumPy's
    allocations under ``budget_bytes`` and took under ``seconds``."""
    capsys.readouterr()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        status = main(['tag', '--model', str(model), MELGRAM,
                       '--no-progress'])
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert peak < budget_bytes, 'peak {} bytes'.format(peak)
    assert elapsed < seconds, '{:.1f} s'.format(elapsed)
    return status, err


def assert_one_line_refusal(status, err, *words):
    """Exit status 2, one ``error:`` line (warnings aside) holding
    ``words``, no traceback."""
    assert 'Traceback' not in err, err
    errors = [line for line in err.splitlines()
              if not line.startswith('warning:')]
    assert status == 2, err
    assert len(errors) == 1 and errors[0].startswith('error: '), err
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def copy(src, dst):
    shutil.copyfile(src, dst)
    return dst
