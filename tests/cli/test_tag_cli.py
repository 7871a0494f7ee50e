"""`chainer-tagger tag` and `chainer_tagger.tag` on good and bad inputs."""
import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import chainer_tagger
from chainer_tagger.cli import main

from conftest import AUDIO, ROOT, SONGS

pytestmark = pytest.mark.shared


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """Good and bad inputs side by side."""
    d = tmp_path_factory.mktemp('inputs')
    mp3 = (AUDIO / 'bensound-cute.mp3').read_bytes()
    (d / 'empty.mp3').write_bytes(b'')
    (d / 'text.mp3').write_text('this is not audio\n')
    (d / 'truncated.mp3').write_bytes(mp3[:40000])
    sr = 44100
    sf.write(d / 'silence.wav', np.zeros(35 * sr, np.float32), sr)
    t = np.arange(sr // 2) / sr
    sf.write(d / 'half-second.wav',
             (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    y, _ = sf.read(AUDIO / 'bensound-thejazzpiano.wav', dtype='float32')
    sf.write(d / 'stereo.wav', np.stack([y, y], axis=1), sr,
             subtype='PCM_16')
    np.save(d / 'flat.npy', np.load(AUDIO / 'bensound-cute.melgram.npy')[0, 0])
    np.save(d / 'wrong-shape.npy', np.zeros((96, 100)))
    return d


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_bad_inputs_are_reported_and_the_rest_tagged(inputs, tmp_path,
                                                     capsys):
    out = tmp_path / 'tags.json'
    status = main(['tag', str(inputs), str(inputs / 'wrong-shape.npy'),
                   '--format', 'json', '--output', str(out),
                   '--no-progress'])
    assert status == 1  # some inputs failed
    err = capsys.readouterr().err
    results = {r['path'].split('/')[-1]: r for r in json.loads(
        out.read_text())}
    assert set(results) == {'empty.mp3', 'text.mp3', 'truncated.mp3',
                            'silence.wav', 'half-second.wav', 'stereo.wav',
                            'flat.npy', 'wrong-shape.npy'}
    for bad, reason in [('empty.mp3', 'empty file'),
                        ('text.mp3', 'not a decodable audio file'),
                        ('wrong-shape.npy', '(96, 100)')]:
        assert reason in results[bad]['error']
        assert str(inputs / bad) in err
    for good in ('truncated.mp3', 'silence.wav', 'half-second.wav',
                 'stereo.wav', 'flat.npy'):
        tags = results[good]['tags']
        assert len(tags) == 50
        assert all(np.isfinite(t['score']) for t in tags)


def test_stereo_file_tags_like_its_mono_source(inputs, capsys):
    assert main(['tag', str(inputs / 'stereo.wav'),
                 str(AUDIO / 'bensound-thejazzpiano.wav'), '--format',
                 'json', '--no-progress']) == 0
    stereo, mono = _json(capsys)
    a = {t['tag']: t['score'] for t in stereo['tags']}
    b = {t['tag']: t['score'] for t in mono['tags']}
    assert max(abs(a[k] - b[k]) for k in a) < 1e-3


def test_npy_shapes_and_percent_and_top(inputs, capsys):
    assert main(['tag', str(inputs / 'flat.npy'),
                 str(AUDIO / 'bensound-cute.melgram.npy'), '--format',
                 'json', '--percent', '--no-progress']) == 0
    flat, batch = _json(capsys)
    # The same scores alone and in a batch of two, up to float32 rounding
    # (a batch's GEMMs may sum in another order).
    assert [t['tag'] for t in flat['tags']] == [t['tag']
                                                for t in batch['tags']]
    np.testing.assert_allclose([t['percent'] for t in flat['tags']],
                               [t['percent'] for t in batch['tags']],
                               rtol=1e-5)
    # Percentages of the sum of all 50 sigmoid scores, in the same order,
    # under the key 'percent':
    assert all(set(t) == {'tag', 'percent'} for t in flat['tags'])
    assert main(['tag', str(inputs / 'flat.npy'), '--format', 'json',
                 '--no-progress']) == 0
    [raw] = _json(capsys)
    total = sum(t['score'] for t in raw['tags'])
    assert 1.5 < total < 3  # sigmoid scores: not already normalized
    assert [t['tag'] for t in flat['tags']] == [t['tag'] for t in raw['tags']]
    np.testing.assert_allclose([t['percent'] for t in flat['tags']],
                               [100 * t['score'] / total
                                for t in raw['tags']], rtol=1e-5)
    assert main(['tag', str(inputs / 'flat.npy'), '--top', '3',
                 '--format', 'csv', '--no-progress']) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r['rank'] for r in rows] == ['1', '2', '3']
    assert rows[0]['tag'] == 'jazz'
    assert float(rows[0]['score']) == pytest.approx(0.444, abs=5e-4)


def test_table_output_and_python_api(capsys):
    assert main(['tag', str(AUDIO / 'bensound-thejazzpiano.melgram.npy'),
                 '--no-progress']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ['jazz', '0.299']
    assert len(lines) == 11  # path and the top 10
    results = chainer_tagger.tag(str(AUDIO / 'bensound-dubstep.melgram.npy'),
                                 model='crnn-msd')
    assert results[0]['tags'][0]['tag'] == 'Hip-Hop'
    assert results[0]['model'] == 'crnn-msd'


def test_missing_path_and_unknown_model(capsys, tmp_path):
    assert main(['tag', str(tmp_path / 'nope.mp3'), '--no-progress']) == 1
    assert 'no such file' in capsys.readouterr().err
    assert main(['tag', str(AUDIO / 'bensound-cute.mp3'), '--model',
                 'nonexistent']) == 2
    assert 'known models' in capsys.readouterr().err


def test_gpu_without_cupy_is_a_clear_error(capsys, monkeypatch):
    import chainer
    monkeypatch.setattr(chainer.backends.cuda, 'available', False)
    assert main(['tag', str(AUDIO / 'bensound-cute.melgram.npy'),
                 '--gpu', '0']) == 2
    assert 'CuPy' in capsys.readouterr().err


def test_progress_bar_on_many_files(tmp_path, capsys):
    src = np.load(AUDIO / 'bensound-cute.melgram.npy')
    for i in range(5):
        np.save(tmp_path / '{}.npy'.format(i), src)
    assert main(['tag', str(tmp_path), '--format', 'json',
                 '--batch-size', '2', '--progress']) == 0
    captured = capsys.readouterr()
    assert 'tagging' in captured.err and '5/5' in captured.err
    assert len(json.loads(captured.out)) == 5


def test_old_entry_point(tmp_path):
    files = [str(AUDIO / 'bensound-thejazzpiano.wav'),
             str(AUDIO / 'bensound-actionable.wav')]
    runs = {}
    for run in ('CRNN', 'CNN0', 'CNN', 'CNN0 --keras 1.0.6-tensorflow'):
        model, *options = run.split()
        args = [sys.executable, str(ROOT / 'music-tagger-test.py'),
                '-m', model] + (['--en'] if model == 'CNN' else []) + \
            options + files
        proc = subprocess.run(args, capture_output=True, text=True,
                              check=True)
        runs[run] = proc.stdout.splitlines()
    crnn = runs['CRNN']
    i = crnn.index('* top-10 tags: genre prediction result percentage *')
    assert crnn[i + 1] == files[0]
    first = eval(crnn[i + 2])  # the old format: a list of (tag, '%5.3f')
    assert first[0][0] == 'jazz' and len(first) == 5
    assert float(first[0][1]) > 50
    assert eval(crnn[i + 6])[0][0] == 'rock'
    assert 'set to use mode 2' in runs['CNN0']
    assert any(line.startswith('converted') for line in runs['CNN'])
    # The same file read as Keras 1.0.6 on TensorFlow did: other numbers.
    tf = runs['CNN0 --keras 1.0.6-tensorflow']
    assert len(tf) == len(runs['CNN0']) and tf != runs['CNN0']


def test_per_clip_with_a_loaded_model_is_refused(model):
    with pytest.raises(ValueError, match='load_model'):
        chainer_tagger.tag(str(AUDIO / 'bensound-cute.melgram.npy'),
                           model=model('cnn0-msd'), per_clip=True)


@pytest.mark.parametrize('command', [
    ['tag', 'x.mp3'], ['taggram', 'x.mp3', '-o', 'x.png'],
    ['embed', 'x.mp3', '-o', 'x.npy'], ['convert', 'x.h5', 'x.npz'],
    ['evaluate', '--model', 'm.npz', '--data', 'd']])
def test_every_model_command_takes_a_keras_preset(command, capsys):
    from chainer_tagger.cli import build_parser
    args = build_parser().parse_args(command + ['--keras', '1.0.7-theano'])
    assert args.keras == '1.0.7-theano'
    with pytest.raises(SystemExit):
        build_parser().parse_args(command + ['--keras', '1.0.9'])
    assert "invalid choice: '1.0.9'" in capsys.readouterr().err


def test_keras_preset_on_the_command_line(capsys, tmp_path):
    """The TensorFlow table of the early CNN (README @7b4a6f7: cute's
    best tags folk 0.222, pop 0.166) from the shipped melgram."""
    paths = [str(AUDIO / (s + '.melgram.npy')) for s in SONGS]
    assert main(['tag', '--model', 'cnn0-msd', '--keras', '1.0.6-tensorflow',
                 '--format', 'json', '--no-progress'] + paths) == 0
    cute = _json(capsys)[0]['tags']
    assert [t['tag'] for t in cute[:2]] == ['folk', 'pop']
    assert abs(cute[0]['score'] - 0.222) < 5e-4
    assert abs(cute[1]['score'] - 0.166) < 5e-4
    assert main(['embed', '--model', 'soundnet8', '--keras', '1.2', paths[0],
                 '-o', str(tmp_path / 'x.npy')]) == 2
    assert 'soundnet8 is not a Keras-1 model' in capsys.readouterr().err


def test_options_that_need_a_model_name(model):
    with pytest.raises(ValueError, match='keras apply when the model is '
                                         'given by name'):
        chainer_tagger.tag(str(AUDIO / 'bensound-cute.melgram.npy'),
                           model=model('cnn0-msd'), keras='1.2')
