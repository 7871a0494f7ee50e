"""No silent garbage, no dead ends: warnings in every format, strict JSON,
one-line errors before any work, outputs that never replace inputs."""
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from chainer_tagger.cli import build_parser, main

from conftest import AUDIO, ROOT

pytestmark = pytest.mark.shared

MELGRAM = AUDIO / 'bensound-cute.melgram.npy'


@pytest.fixture(scope='module')
def odd(tmp_path_factory):
    """Short, silent and non-finite inputs."""
    d = tmp_path_factory.mktemp('odd')
    sr = 22050
    t = np.arange(sr // 2) / sr
    sf.write(d / 'half-second.wav',
             (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    sf.write(d / 'silence.wav', np.zeros(31 * sr, np.float32), sr)
    m = np.load(MELGRAM)[0, 0]
    bad = m.copy()
    bad[3, 7] = np.nan
    np.save(d / 'nan.npy', bad)
    return d


def _json_out(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_warnings_in_json_csv_table_and_stderr(odd, capsys):
    files = [str(odd / 'half-second.wav'), str(odd / 'silence.wav'),
             str(MELGRAM)]
    assert main(['tag'] + files + ['-f', 'json', '--no-progress']) == 0
    results, err = _json_out(capsys)
    short, silent, good = results
    assert short['warnings'] == [
        '0.5 s of audio: 98 % of the 29.12 s window is padding']
    assert silent['warnings'] == [
        'silent (no signal): the scores are those of silence']
    assert good['warnings'] == []
    assert 'warning: {}: 0.5 s of audio'.format(files[0]) in err
    assert main(['tag'] + files + ['-f', 'csv', '--no-progress']) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]['warnings'].startswith('0.5 s of audio')
    assert rows[-1]['warnings'] == ''
    assert main(['tag'] + files + ['--no-progress']) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1] == '  warning: 0.5 s of audio: 98 % of the 29.12 s ' \
                       'window is padding'


def test_non_finite_melgram_is_an_error_and_json_stays_strict(odd, capsys):
    assert main(['tag', str(odd / 'nan.npy'), str(MELGRAM), '-f', 'json',
                 '--no-progress']) == 1
    out = capsys.readouterr().out
    results = json.loads(out, parse_constant=lambda c: pytest.fail(c))
    assert '1 NaN or infinite values' in results[0]['error']
    assert 'tags' not in results[0] and len(results[1]['tags']) == 50


def test_embed_refuses_non_finite_input(odd, tmp_path, capsys):
    out = tmp_path / 'f.npy'
    assert main(['embed', str(odd / 'nan.npy'), str(MELGRAM), '-m',
                 'crnn-msd', '-o', str(out)]) == 1
    assert np.isfinite(np.load(out)).all() and np.load(out).shape == (1, 32)
    index = json.loads((tmp_path / 'f.json').read_text())
    assert 'NaN' in index[1]['error']


def test_output_that_is_an_input_is_refused_before_any_work(tmp_path,
                                                            capsys):
    song = tmp_path / 'song.mp3'
    data = (AUDIO / 'bensound-cute.mp3').read_bytes()
    song.write_bytes(data)
    assert main(['tag', str(song), '-o', str(song)]) == 2
    assert 'is one of the inputs' in capsys.readouterr().err
    assert song.read_bytes() == data
    assert main(['tag', str(tmp_path), '-o', str(tmp_path)]) == 2
    assert 'is a folder' in capsys.readouterr().err


@pytest.mark.parametrize('argv,message', [
    (['tag', str(MELGRAM), '--top', '0'],
     'argument --top/-k: must be a positive integer, not 0'),
    (['tag', str(MELGRAM), '-k', '-3'], 'not -3'),
    (['tag', str(MELGRAM), '--batch-size', '0'], 'argument --batch-size/-b'),
    (['embed', str(MELGRAM), '-o', 'x.npy', '-b', '0'], '--batch-size'),
    (['taggram', str(MELGRAM), '-o', 'x.png', '-b', '0'], '--batch-size'),
    (['taggram', str(MELGRAM), '-o', 'x.png', '--top', '0'], '--top'),
    (['export', '-o', 'x.onnx', '--batch-size', '0'], '--batch-size'),
    (['export', '-o', 'x.onnx', '--opset', '5'], 'invalid choice: 5'),
    (['tag', str(MELGRAM), '--hop', '-1'], 'positive number'),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and 'usage' not in err


@pytest.mark.parametrize('extra', [['--hop', '5'], ['--aggregate', 'max']])
def test_window_options_without_window_full(extra, capsys):
    assert main(['tag', str(MELGRAM), '--no-progress'] + extra) == 2
    assert 'only apply with --window full' in capsys.readouterr().err


def test_version_and_help_describe_every_option(capsys):
    assert main(['--version']) == 0
    assert capsys.readouterr().out.strip() == 'chainer-tagger 0.1.0'
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == 'command')
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.dest == 'help':
                continue
            where = '{} {}'.format(name, '/'.join(action.option_strings)
                                   or action.dest)
            assert action.help, where
            if action.option_strings and action.default not in (
                    None, False) and not action.required:
                assert 'default' in action.help, where


def test_mode_2_model_warns_when_batches_mix_clips(capsys):
    files = [str(AUDIO / (s + '.melgram.npy'))
             for s in ('bensound-cute', 'bensound-dubstep')]
    assert main(['tag', '-m', 'cnn0-msd', '--no-progress'] + files) == 0
    assert 'warning: cnn0-msd normalises over each batch' in \
        capsys.readouterr().err
    assert main(['tag', '-m', 'cnn0-msd', '--per-clip', '--no-progress'] +
                files) == 0
    assert 'warning' not in capsys.readouterr().err
    assert main(['tag', '-m', 'crnn-msd', '--no-progress'] + files) == 0
    assert 'warning' not in capsys.readouterr().err


def test_non_utf8_file_name_is_tagged_and_written_faithfully(tmp_path,
                                                             capsys):
    name = os.fsdecode(b'caf\xe9.mp3')
    (tmp_path / name).write_bytes((AUDIO / 'bensound-cute.mp3').read_bytes())
    assert main(['tag', str(tmp_path), '-f', 'json', '--no-progress']) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert os.fsencode(r['path']) == os.fsencode(str(tmp_path / name))
    assert r['tags'][0]['tag'] == 'jazz'
    assert 'not valid UTF-8' in r['warnings'][0]
    out = tmp_path / 'out' / 'tags.csv'
    assert main(['tag', str(tmp_path / name), '-f', 'csv', '-o', str(out),
                 '--no-progress']) == 0
    assert os.fsencode(str(tmp_path / name)) in out.read_bytes()


def test_unreadable_sub_folder_is_reported(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / 'a.npy', np.load(MELGRAM)[0, 0])
    (tmp_path / 'locked').mkdir()
    real_scandir = os.scandir

    def scandir(path='.'):
        if os.fspath(path) == str(tmp_path / 'locked'):
            raise PermissionError(13, 'Permission denied', os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(os, 'scandir', scandir)
    assert main(['tag', str(tmp_path), '--no-progress']) == 1
    err = capsys.readouterr().err
    assert 'locked: a folder that cannot be read (Permission denied)' in err
    assert '1 of 2 inputs could not be tagged' in err


def test_models_into_a_closed_pipe_is_quiet():
    """``chainer-tagger models | head -0``: no BrokenPipeError traceback."""
    code = ('import sys; sys.argv = ["chainer-tagger", "models"]; '
            'from chainer_tagger.cli import main; sys.exit(main())')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, '-c', code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    proc.wait()
    assert 'Traceback' not in err and 'BrokenPipe' not in err, err
    assert proc.returncode == 1


def test_no_ansi_codes_in_progress_on_a_pipe(tmp_path, capsys):
    for i in range(5):
        np.save(tmp_path / '{}.npy'.format(i), np.load(MELGRAM))
    assert main(['tag', str(tmp_path), '-f', 'json', '--progress']) == 0
    err = capsys.readouterr().err
    assert '5/5' in err and '\x1b[' not in err
