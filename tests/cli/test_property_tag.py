"""Property: whatever bytes a file holds, ``tag`` never shows a traceback.

Hypothesis feeds truncated, corrupted and random variants of real audio
files (copied from ../shared/audio at test time) to ``chainer-tagger tag``
beside a good file, and checks: exit status 0 or 1, never an exception;
one result per input, in order, in complete strict JSON; each a result
with 50 finite scores (and a padding warning when less than the window
decoded) or a per-file error naming the file; the good file tagged as on
its own.  Bounded (``max_examples``, derandomized) to keep the suite short.
"""
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chainer_tagger.cli import main

from conftest import AUDIO

pytestmark = pytest.mark.shared


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """Real audio in three containers: the mp3, and 6 s of a song as WAV
    and FLAC (short, so that each example stays fast)."""
    d = tmp_path_factory.mktemp('sources')
    y, sr = sf.read(AUDIO / 'bensound-actionable.wav', dtype='float32')
    y = y[10 * sr:16 * sr]
    sf.write(d / 'clip.wav', y, sr, subtype='PCM_16')
    sf.write(d / 'clip.flac', y, sr)
    return {'mp3': (AUDIO / 'bensound-cute.mp3').read_bytes(),
            'wav': (d / 'clip.wav').read_bytes(),
            'flac': (d / 'clip.flac').read_bytes()}


@pytest.fixture(scope='module')
def good_scores(sources, tmp_path_factory):
    path = tmp_path_factory.mktemp('good') / 'good.wav'
    path.write_bytes(sources['wav'])
    out = path.with_suffix('.json')
    assert main(['tag', str(path), '-f', 'json', '-o', str(out),
                 '--no-progress']) == 0
    return json.loads(out.read_text())[0]['tags']


def _truncate(data, fraction, _):
    return data[:int(len(data) * fraction)]


def _overwrite(data, fraction, rng):
    start = int(len(data) * fraction)
    size = rng.randint(1, max(2, len(data) // 4))
    return data[:start] + rng.bytes(size) + data[start + size:]


def _zeros(data, fraction, rng):
    start = int(len(data) * fraction)
    size = rng.randint(1, max(2, len(data) // 4))
    return data[:start] + bytes(size) + data[start + size:]


def _flip_bits(data, fraction, rng):
    out = bytearray(data)
    for i in rng.randint(0, len(out), 1 + int(200 * fraction)):
        out[i] ^= 1 << rng.randint(8)
    return bytes(out)


def _random_bytes(data, fraction, rng):
    return rng.bytes(int(20000 * fraction))


DAMAGE = {'truncate': _truncate, 'overwrite': _overwrite, 'zeros': _zeros,
          'flip': _flip_bits, 'random': _random_bytes}

variants = st.lists(st.tuples(
    st.sampled_from(['mp3', 'wav', 'flac']), st.sampled_from(sorted(DAMAGE)),
    st.floats(0.0, 1.0), st.integers(0, 2 ** 16)), min_size=1, max_size=3)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(variants=variants)
def test_tag_survives_damaged_audio(sources, good_scores, variants):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for i, (kind, damage, fraction, seed) in enumerate(variants):
            data = DAMAGE[damage](sources[kind], fraction,
                                  np.random.RandomState(seed))
            files.append(tmp / '{}-{}.{}'.format(i, damage, kind))
            files[-1].write_bytes(data)
        good = tmp / 'good.wav'
        good.write_bytes(sources['wav'])
        files.insert(len(files) // 2, good)
        out = tmp / 'tags.json'
        status = main(['tag'] + [str(f) for f in files] +
                      ['-f', 'json', '-o', str(out), '--no-progress'])
        assert status in (0, 1)
        results = json.loads(out.read_text(),
                             parse_constant=lambda c: pytest.fail(c))
        assert [r['path'] for r in results] == [str(f) for f in files]
        kinds = [v for v in variants]
        kinds.insert(len(kinds) // 2, None)
        for r, variant in zip(results, kinds):
            assert isinstance(r['warnings'], list)
            if 'error' in r:
                assert r['path'] in r['error'] and 'tags' not in r
                continue
            scores = [t['score'] for t in r['tags']]
            assert len(scores) == 50
            assert all(0.0 <= s <= 1.0 for s in scores)
            if variant is None:
                continue
            kind, damage, fraction, _ = variant
            # Warnings where due: at most 6 s of WAV or FLAC, or less than
            # 85 % of a 31 s mp3, leave most of the window to padding.
            if kind != 'mp3' or (damage == 'truncate' and fraction < 0.85):
                assert any('window is padding' in w
                           for w in r['warnings']), r
        assert status == int(any('error' in r for r in results))
        tagged = results[files.index(good)]
        assert 'error' not in tagged
        # A 6 s clip: the window is mostly padding, and says so.
        assert tagged['warnings'] == [
            '6.0 s of audio: 79 % of the 29.12 s window is padding']
        np.testing.assert_allclose(
            [t['score'] for t in tagged['tags']],
            [t['score'] for t in good_scores], atol=1e-6)


# -- Impossible headers and special files (issue 20) -----------------------
# The tiny model of library_fixture (fast), each run in a forked child with
# a time limit (forked.run_forked): a run that hangs fails.

WAV_FIELDS = {  # name: (offset, struct format) in a canonical 44-byte header
    'channels': (22, '<H'), 'rate': (24, '<I'), 'byte rate': (28, '<I'),
    'block align': (32, '<H'), 'bits': (34, '<H'), 'data size': (40, '<I'),
    'riff size': (4, '<I')}
FLAC_FIELDS = {  # name: (bit offset, bits) in STREAMINFO (bytes 8 to 42)
    'min block': (0, 16), 'max block': (16, 16), 'min frame': (32, 24),
    'max frame': (56, 24), 'rate': (80, 20), 'channels': (100, 3),
    'bits': (103, 5), 'total samples': (108, 36)}


@pytest.fixture(scope='module')
def tiny_sources(tmp_path_factory):
    from library_fixture import make_tiny_model, write_clip
    d = tmp_path_factory.mktemp('tiny-sources')
    return {'model': str(make_tiny_model(d / 'tiny.npz')),
            'wav': write_clip(d / 'clip.wav', 5).read_bytes(),
            'flac': write_clip(d / 'clip.flac', 5).read_bytes()}


def _mutated(kind, data, field, which):
    """``data`` with one header field set to 0, 1, a middle value, its
    largest value or the value with its top bit alone (``which``)."""
    import struct
    data = bytearray(data)
    if kind == 'wav':
        offset, fmt = WAV_FIELDS[field]
        top = (1 << (8 * struct.calcsize(fmt))) - 1
    else:
        offset, bits = FLAC_FIELDS[field]
        top = (1 << bits) - 1
    value = [0, 1, top // 3, top, (top + 1) // 2][which]
    if kind == 'wav':
        struct.pack_into(fmt, data, offset, value)
    else:
        shift = 34 * 8 - offset - bits
        info = int.from_bytes(data[8:42], 'big')
        info = (info & ~(top << shift)) | (value << shift)
        data[8:42] = info.to_bytes(34, 'big')
    return bytes(data)


def _check_run(status, out, err, files, good):
    """What every run promises: results in order, in strict JSON; the
    good files tagged; each error one line on stderr naming its file; no
    traceback; exit status 1 exactly when something failed."""
    assert 'Traceback' not in err, err
    results = json.loads(out, parse_constant=lambda c: pytest.fail(c))
    assert [r['path'] for r in results] == [str(f) for f in files]
    errors = [line for line in err.splitlines() if line.startswith('error')]
    failed = [r for r in results if 'error' in r]
    assert errors == ['error: ' + r['error'] for r in failed]
    for r in failed:
        assert r['error'].startswith(r['path'] + ': ')
        assert '\n' not in r['error'] and 'tags' not in r
    for r in results:
        if str(r['path']) in good:
            assert 'tags' in r, r
        if 'tags' in r:
            assert len(r['tags']) == 5 and all(
                0.0 <= t['score'] <= 1.0 for t in r['tags'])
    assert status == (1 if failed else 0)
    return results


headers = st.lists(st.one_of(
    st.tuples(st.just('wav'), st.sampled_from(sorted(WAV_FIELDS)),
              st.integers(0, 4)),
    st.tuples(st.just('flac'), st.sampled_from(sorted(FLAC_FIELDS)),
              st.integers(0, 4))), min_size=1, max_size=4)


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(mutations=headers, full=st.booleans())
@example(mutations=[('wav', 'rate', 0), ('wav', 'channels', 3)], full=False)
@example(mutations=[('flac', 'total samples', 0)], full=True)
def test_tag_survives_impossible_headers(tiny_sources, mutations, full):
    """WAV and FLAC files whose header fields are 0, 1 or huge, beside a
    good file, in a folder (centre window or whole files): the run ends,
    the good file is tagged, each bad one is tagged or one one-line error,
    never a traceback."""
    from forked import run_forked
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = tmp / '50-good.wav'
        good.write_bytes(tiny_sources['wav'])
        for i, (kind, field, which) in enumerate(mutations):
            (tmp / '{:02d}-{}.{}'.format(i, field.replace(' ', '-'),
                                         kind)).write_bytes(
                _mutated(kind, tiny_sources[kind], field, which))
        files = sorted(tmp.iterdir())
        status, out, err = run_forked(
            main, ['tag', str(tmp), '-m', tiny_sources['model'], '-f',
                   'json', '--no-progress'] +
            (['--window', 'full'] if full else []), timeout=60)
        _check_run(status, out, err, files, {str(good)})


specials = st.lists(st.sampled_from(['fifo', 'socket', 'device']),
                    min_size=1, max_size=3)


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(kinds=specials, named=st.booleans(),
       extension=st.sampled_from(['.wav', '.mp3', '.npy', '']))
def test_tag_survives_special_files(tiny_sources, kinds, extension, named):
    """Named pipes, sockets and (as root) device nodes, with audio names
    or none, in a scanned folder or named on the command line: one
    one-line error each, never a wait; the regular files tagged."""
    import socket
    from forked import run_forked
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = [tmp / '0-good.wav', tmp / '9-good.flac']
        good[0].write_bytes(tiny_sources['wav'])
        good[1].write_bytes(tiny_sources['flac'])
        sockets = []
        for i, kind in enumerate(kinds):
            path = tmp / '{}-{}{}'.format(i + 1, kind, extension)
            if kind == 'fifo':
                os.mkfifo(path)
            elif kind == 'socket':
                sockets.append(socket.socket(socket.AF_UNIX))
                sockets[-1].bind(str(path))
            elif os.geteuid() == 0:  # a character device: /dev/null's
                os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
            else:
                os.mkfifo(path)
        try:
            files = sorted(tmp.iterdir())
            status, out, err = run_forked(
                main, ['tag'] + ([str(f) for f in files] if named
                                 else [str(tmp)]) +
                ['-m', tiny_sources['model'], '-f', 'json',
                 '--no-progress'], timeout=60)
        finally:
            for s in sockets:
                s.close()
        results = _check_run(status, out, err, files,
                             {str(g) for g in good})
        assert status == 1
        for r in results:
            if r['path'] not in {str(g) for g in good}:
                assert r['error'].endswith(', not a regular file (not '
                                           'read)'), r
