"""music-tagger-test.py, the 2018 port's entry point, run as a subprocess:
``--en`` converts once into the cache, where tagging finds it verified
(it used to be reported as damaged and converted a second time), and with
no files it tags the songs the old script shipped, found where the project
keeps its reference data, or says in one line what to pass."""
import os
import shutil
import subprocess
import sys

import pytest

from chainer_tagger.pretrained import cache

from conftest import AUDIO, ROOT, SHARED

SCRIPT = ROOT / 'music-tagger-test.py'


def run(args, env=None, script=SCRIPT, cwd=None):
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, str(script)] + args,
                          capture_output=True, text=True, env=environment,
                          cwd=cwd, timeout=300)


@pytest.mark.shared
def test_en_converts_once_and_the_conversion_is_not_damaged(tmp_path):
    melgram = str(AUDIO / 'bensound-cute.melgram.npy')
    env = {'CHAINER_TAGGER_CACHE': str(tmp_path / 'cache')}
    for _ in range(2):  # the second run replaces the first's conversion
        proc = run(['-m', 'CNN', '--en', melgram], env)
        assert proc.returncode == 0, proc.stderr
        assert 'damaged' not in proc.stderr
        assert 'rebuilding' not in proc.stderr
        assert proc.stderr == ''
        converted = [line for line in proc.stdout.splitlines()
                     if line.startswith('converted')]
        assert len(converted) == 1
        path = converted[0].split(' -> ')[1]
        assert cache.damage(path) is None
        assert 'cute' in proc.stdout


@pytest.mark.shared
def test_without_files_it_tags_the_bundled_songs(tmp_path):
    proc = run(['-m', 'CRNN'], {'CHAINER_TAGGER_SHARED': str(SHARED)},
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert str(SHARED / 'audio' / 'bensound-thejazzpiano.wav') in lines
    assert str(SHARED / 'audio' / 'bensound-actionable.wav') in lines
    i = lines.index(str(SHARED / 'audio' / 'bensound-thejazzpiano.wav'))
    assert eval(lines[i + 1])[0][0] == 'jazz'


def test_without_files_or_songs_it_says_what_to_pass(tmp_path):
    """A copy of the script away from any checkout, with no shared data:
    one line, exit status 2."""
    script = shutil.copy(SCRIPT, tmp_path / 'music-tagger-test.py')
    proc = run(['-m', 'CNN'], {'CHAINER_TAGGER_SHARED': str(tmp_path)},
               script=script, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('error: no audio files given')
    assert 'bensound-thejazzpiano.wav' in lines[0]
    assert 'pass audio files' in lines[0]
    assert proc.stdout == ''


def test_a_model_error_is_one_line_and_status_2(tmp_path):
    proc = run(['-m', 'CNN', str(tmp_path / 'missing.wav')])
    assert proc.returncode == 2
    assert 'no such file' in proc.stderr
