"""No silent garbage, no dead ends: warnings in every format, strict JSON,
one-line errors before any work, outputs that never replace inputs."""
import csv
import io
import json
import os
import re
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


# -- Hostile inputs (issue 20): special files, impossible headers, outputs
# that are inputs, names with control characters, audio without music.
# The tiny model of library_fixture keeps these fast; a run that would
# hang fails (forked.run_forked) instead of hanging the suite.

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from library_fixture import make_tiny_model
    return str(make_tiny_model(tmp_path_factory.mktemp('tiny') / 'tiny.npz'))


def _cli(argv):
    """``main(argv)`` in a forked child: (status, stdout, stderr)."""
    from forked import run_forked
    status, out, err = run_forked(main, argv + ['--no-progress'],
                                  timeout=60)
    return status, out, err


def _wav_with(path, offset, fmt, value, source):
    """``source`` (a WAV) with the header field at ``offset`` set to
    ``value``."""
    import struct
    data = bytearray(source.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize('named', [False, True])
def test_special_files_are_one_error_each_and_never_block(tmp_path, tiny,
                                                          named):
    """A named pipe and a socket with audio names, found by a folder scan
    or named on the command line: one one-line error each, the regular
    files tagged; nothing opens them (the pipe has no writer: opening it
    would wait forever)."""
    import socket
    from library_fixture import write_clip
    write_clip(tmp_path / 'a.wav', 1)
    os.mkfifo(tmp_path / 'pipe.wav')
    os.mkfifo(tmp_path / 'pipe.npy')
    os.mkfifo(tmp_path / 'fifo')  # no audio name: still not skipped
    (tmp_path / 'notes.txt').write_text('a regular file: skipped')
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / 'sock.mp3'))
    write_clip(tmp_path / 'b.flac', 2)
    try:
        paths = [str(tmp_path / n) for n in (
            'a.wav', 'b.flac', 'fifo', 'pipe.npy', 'pipe.wav',
            'sock.mp3')] if named else [str(tmp_path)]
        status, out, err = _cli(['tag'] + paths + ['-m', tiny, '-f',
                                                   'json'])
    finally:
        sock.close()
    assert status == 1
    results = {os.path.basename(r['path']): r for r in json.loads(out)}
    assert sorted(results) == ['a.wav', 'b.flac', 'fifo', 'pipe.npy',
                               'pipe.wav', 'sock.mp3']
    assert 'tags' in results['a.wav'] and 'tags' in results['b.flac']
    for name, kind in (('fifo', 'a named pipe (FIFO)'),
                       ('pipe.npy', 'a named pipe (FIFO)'),
                       ('pipe.wav', 'a named pipe (FIFO)'),
                       ('sock.mp3', 'a socket')):
        assert results[name]['error'] == '{}: {}, not a regular file ' \
            '(not read)'.format(tmp_path / name, kind)
    errors = [line for line in err.splitlines() if line.startswith('error')]
    assert len(errors) == 4 and 'Traceback' not in err


def test_a_device_named_on_the_command_line_is_not_read(tiny):
    status, out, err = _cli(['tag', '/dev/zero', '/dev/null', '-m', tiny,
                             '-f', 'json'])
    assert status == 1
    assert [r['error'] for r in json.loads(out)] == [
        '/dev/zero: a character device, not a regular file (not read)',
        '/dev/null: a character device, not a regular file (not read)']


@pytest.mark.parametrize('offset,fmt,value,message', [
    (24, '<I', 0, 'a sample rate of 0 Hz'),
    (24, '<I', 1, 'a sample rate of 1 Hz'),
    (24, '<I', 0xFFFFFFFF, 'sample rate'),
    (22, '<H', 0, 'hannel'),
    (22, '<H', 65535, 'hannel'),
    (34, '<H', 0, 'not a decodable audio file'),
    (40, '<I', 0, 'no audio samples'),
])
def test_impossible_wav_header_is_a_per_file_error(tmp_path, tiny, offset,
                                                   fmt, value, message):
    """A header field set to 0 or a huge value: that file's one-line
    error, the other files tagged, never a traceback (a rate of 0 ended
    the whole run with a ZeroDivisionError)."""
    from library_fixture import write_clip
    good = write_clip(tmp_path / 'good.wav', 1)
    bad = _wav_with(tmp_path / 'bad.wav', offset, fmt, value, good)
    status, out, err = _cli(['tag', str(bad), str(good), '-m', tiny, '-f',
                             'json'])
    assert status == 1 and 'Traceback' not in err
    bad_result, good_result = json.loads(out)
    assert message in bad_result['error'] and 'tags' not in bad_result
    assert 'tags' in good_result
    assert [line for line in err.splitlines()
            if line.startswith('error')] == ['error: ' + bad_result['error']]


def test_flac_of_unknown_or_absurd_length_never_hangs(tmp_path, tiny):
    """A FLAC header's total samples set to 0 ("unknown": libsndfile says
    2**63 - 1 frames) or to 2**36 - 1 for a file of 5 kB: not believed, the
    file is decoded to count what it holds (was: a whole-file window
    plan of billions of windows)."""
    from library_fixture import write_clip
    good = write_clip(tmp_path / 'good.flac', 1)
    data = bytearray(good.read_bytes())
    bits = int.from_bytes(data[8:42], 'big')
    paths = []
    for total in (0, (1 << 36) - 1):
        field = ((1 << 36) - 1) << (34 * 8 - 144)
        bits_now = (bits & ~field) | (total << (34 * 8 - 144))
        data[8:42] = bits_now.to_bytes(34, 'big')
        paths.append(tmp_path / 'total-{}.flac'.format(total))
        paths[-1].write_bytes(bytes(data))
    status, out, err = _cli(['tag'] + [str(p) for p in paths] +
                            [str(good), '-m', tiny, '-f', 'json',
                             '--window', 'full'])
    assert status in (0, 1) and 'Traceback' not in err
    results = json.loads(out)
    assert len(results) == 3 and 'tags' in results[2]
    for r in results[:2]:
        assert 'tags' in r or r['error'].startswith(r['path'])


def test_output_inside_a_scanned_folder_is_refused(tmp_path, tiny):
    """-o naming an audio file that the folder scan finds, a link to it,
    or the store; --db naming a scanned file; -o and --db the same file:
    each refused in one line before any work, nothing written."""
    from library_fixture import write_clip
    song = write_clip(tmp_path / 'song.wav', 1)
    before = song.read_bytes()
    os.symlink(song, tmp_path / 'link.txt')
    db = tmp_path / 'out' / 'lib.db'
    for argv, message in [
            (['-o', str(song)], '-o {}: is one of the inputs'.format(song)),
            (['-o', str(tmp_path / 'link.txt')], 'is one of the inputs'),
            (['--db', str(song)], '--db {}: is one of the inputs'.format(
                song)),
            (['--db', str(db), '-o', str(db)], 'the same file'),
            (['-o', str(tmp_path / 'x' / '..' / 'song.wav')],
             'is one of the inputs')]:
        status, out, err = _cli(['tag', str(tmp_path), '-m', tiny] + argv)
        assert status == 2 and out == '', argv
        assert err.count('\n') == 1 and message in err, (argv, err)
        assert song.read_bytes() == before
    assert not db.exists()
    # The model file is an input too.
    status, _, err = _cli(['tag', str(song), '-m', tiny, '-o', tiny])
    assert status == 2 and 'is one of the inputs' in err


def test_embed_output_beside_it_is_checked_too(tmp_path, tiny):
    from library_fixture import write_clip
    song = write_clip(tmp_path / 'song.wav', 1)
    index = tmp_path / 'f.json'
    index.write_text('mine')
    status, _, err = _cli(['embed', str(tmp_path), '-m', tiny, '-o',
                           str(tmp_path / 'f.json')])
    assert status == 2 and 'the same file' in err
    assert index.read_text() == 'mine' and song.exists()


def test_control_characters_in_names_never_forge_lines(tmp_path, tiny):
    """A name holding a newline, a carriage return or an escape sequence
    prints as one escaped line in the table and on stderr; JSON keeps it
    as it is.  The non-UTF-8 warning comes once."""
    from library_fixture import write_clip
    forged = 'x.wav\n  error: forged\r\x1b[2K'
    write_clip(tmp_path / 'ok.wav', 1)
    (tmp_path / (forged + '.wav')).write_bytes(b'not audio')
    name = os.fsdecode(b'caf\xe9.wav')
    os.rename(write_clip(tmp_path / 'cafe.wav', 2), tmp_path / name)
    status, out, err = _cli(['tag', str(tmp_path), '-m', tiny])
    assert status == 1
    lines = out.splitlines()
    assert not any(line.startswith('  error: forged') for line in lines)
    assert '{}/x.wav\\n  error: forged\\r\\x1b[2K.wav'.format(tmp_path) in \
        lines
    assert '\x1b' not in out + err and '\r' not in out + err
    [line] = [line for line in err.splitlines() if 'forged' in line]
    assert line.startswith('error: {}/x.wav\\n  error: forged\\r\\x1b[2K'
                           '.wav: not a decodable audio file'.format(
                               tmp_path))
    assert err.count('not valid UTF-8') == 1
    status, out, _ = _cli(['tag', str(tmp_path), '-m', tiny, '-f', 'json'])
    results = {os.path.basename(r['path']): r for r in json.loads(out)}
    assert results[forged + '.wav']['path'] == str(tmp_path / (forged +
                                                               '.wav'))
    assert len([w for w in results[name]['warnings'] if 'UTF-8' in w]) == 1


def test_audio_without_music_is_tagged_with_a_warning(tmp_path, tiny):
    """DC only, near silence under a DC offset, and a lone click (its
    melgram 99.9 % at the floor) each get a warning in words; music gets
    none (waveform models: tests/audio/test_quality.py)."""
    from library_fixture import SR, clip
    n = 3 * SR
    sf.write(tmp_path / 'dc.wav', np.full(n, 0.5, np.float32), SR)
    rng = np.random.RandomState(0)
    sf.write(tmp_path / 'hum.wav', (0.5 + 1e-4 * rng.uniform(-1, 1, n))
             .astype(np.float32), SR)
    click = np.zeros(30 * SR, np.float32)  # a whole window
    click[15 * SR] = 0.9
    sf.write(tmp_path / 'click.wav', click, SR)
    sf.write(tmp_path / 'music.wav', clip(3, 3.0), SR)
    status, out, _ = _cli(['tag', str(tmp_path), '-m', tiny, '-f', 'json'])
    assert status == 0
    notes = {os.path.basename(r['path']): [
        w for w in r['warnings'] if 'padding' not in w]
        for r in json.loads(out)}
    assert notes['dc.wav'] == ['no sound, only a constant offset (DC at -6 '
                               'dBFS): the scores are those of silence']
    [hum] = notes['hum.wav']
    assert re.fullmatch(
        r'nearly silent under a constant offset \(DC at -6 dBFS; what '
        r'varies stays within -(79|78|77) dBFS\): the scores are those of '
        r'near silence', hum), hum
    assert len(notes['click.wav']) == 1 and notes['click.wav'][
        0].startswith('almost nothing to analyse: 99.')
    assert notes['music.wav'] == []


def test_training_never_writes_over_the_model_it_reads(tmp_path, tiny):
    """``train -m out/best_model.npz --out out`` would replace its own
    starting point: refused in one line before any work."""
    out = tmp_path / 'run'
    out.mkdir()
    model = out / 'best_model.npz'
    model.write_bytes(open(tiny, 'rb').read())
    before = model.read_bytes()
    status, _, err = _cli(['train', '-m', str(model), '--data',
                           str(tmp_path), '--out', str(out)])
    assert status == 2 and err.count('\n') == 1
    assert '--out {}: is one of the inputs'.format(model) in err
    assert model.read_bytes() == before
