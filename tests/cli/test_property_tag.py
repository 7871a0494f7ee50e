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
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
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
