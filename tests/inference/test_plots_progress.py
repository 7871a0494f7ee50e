"""Quiet when not watched (issue 22): progress bars only on a terminal,
never from the Python API unless asked."""
import fcntl
import os
import struct
import sys
import termios
import threading

import numpy as np
import pytest

from chainer_tagger.cli import main

from conftest import AUDIO

pytestmark = pytest.mark.shared


def _has_bar(text):
    """tqdm's marks: carriage returns and ``n/total [elapsed``."""
    return '\r' in text or '5/5 [' in text


@pytest.fixture
def five_melgrams(tmp_path):
    src = np.load(AUDIO / 'bensound-cute.melgram.npy')
    for i in range(5):
        np.save(tmp_path / '{}.npy'.format(i), src)
    return tmp_path


def _on_a_terminal(monkeypatch, argv):
    """Run the CLI with stderr on a pseudo-terminal; returns (status,
    what the terminal showed).  A thread drains the terminal while the
    command runs, so that a full buffer never blocks its writes."""
    master, slave = os.openpty()
    # A terminal's size: on a pty of 0 columns tqdm draws nothing.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    chunks = []

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other end is closed
                return
            if not chunk:
                return
            chunks.append(chunk)
    reader = threading.Thread(target=drain)
    reader.start()
    tty = os.fdopen(slave, 'w', buffering=1)
    monkeypatch.setattr(sys, 'stderr', tty)
    try:
        assert tty.isatty()
        status = main(argv)
        tty.flush()
    finally:
        monkeypatch.undo()
        tty.close()
        reader.join(timeout=10)
        os.close(master)
    return status, b''.join(chunks).decode('utf-8', 'replace')


def test_the_api_prints_nothing_to_stderr_by_default(five_melgrams, model,
                                                      tiny, capfd):
    from chainer_tagger import tag
    from chainer_tagger.datasets.gtzan import GTZAN
    from chainer_tagger.training.evaluation import evaluate
    from chainer_tagger.training.inputs import decoded_clips
    paths = sorted(five_melgrams.glob('*.npy'))
    assert len(tag(paths, model=model('crnn-msd'))) == 5
    net = model('crnn-gtzan')
    pipeline = decoded_clips(net.clip_input)
    GTZAN(tiny, pipeline.feature, pipeline.kind, five_melgrams / 'cache')
    report = evaluate('crnn-gtzan', str(tiny))
    assert report['n_clips'] == 8
    err = capfd.readouterr().err
    assert not _has_bar(err) and 'decoding' not in err, err
    # Asked for, the bar is there.
    tag(paths, model=model('crnn-msd'), progress=True)
    assert '5/5' in capfd.readouterr().err


def test_the_cli_shows_no_bar_when_stderr_is_not_a_terminal(five_melgrams,
                                                             capsys):
    assert not sys.stderr.isatty()
    assert main(['tag', str(five_melgrams), '-f', 'json']) == 0
    captured = capsys.readouterr()
    assert not _has_bar(captured.err) and 'tagging' not in captured.err
    assert captured.out.count('"path"') == 5


def test_the_cli_shows_a_bar_on_a_terminal(five_melgrams, monkeypatch,
                                           capsys):
    status, shown = _on_a_terminal(
        monkeypatch, ['tag', str(five_melgrams), '-f', 'json'])
    assert status == 0
    assert 'tagging' in shown and '5/5' in shown, shown
    assert capsys.readouterr().out.count('"path"') == 5
    # --no-progress silences it even there.
    status, shown = _on_a_terminal(
        monkeypatch, ['tag', str(five_melgrams), '-f', 'json',
                      '--no-progress'])
    assert status == 0 and not _has_bar(shown) and 'tagging' not in shown


def test_progress_and_no_progress_exclude_each_other(capsys):
    assert main(['tag', 'x.npy', '--progress', '--no-progress']) == 2
    assert 'not allowed with argument' in capsys.readouterr().err


def test_train_progress_draws_its_bar_without_a_terminal(tiny, tmp_path,
                                                             capsys):
    """``train --progress`` asks for bars whatever stderr is (a log, a
    pipe): the run's progress bar is drawn too, not only the per-epoch
    report."""
    assert not sys.stderr.isatty()
    out = tmp_path / 'run'
    assert main(['train', '--data', str(tiny), '--out', str(out),
                 '--epochs', '1', '--batch-size', '3', '--test-fraction',
                 '0.25', '--windows', '2', '--no-embeddings',
                 '--progress']) == 0
    captured = capsys.readouterr()
    err = captured.err
    # The run's bar (tqdm, the run's iterations and the epoch), on stderr
    # (Chainer 7.8.1's own ProgressBar would draw on stdout), so that
    # stdout holds the result alone.
    assert 'training: 100%' in err and '2/2 [' in err, err
    assert 'epoch 1' in err, err
    assert captured.out.startswith('best model: '), captured.out
    assert '[' not in captured.out, captured.out
    # --no-progress: the per-epoch report alone.
    out = tmp_path / 'quiet'
    assert main(['train', '--data', str(tiny), '--out', str(out),
                 '--epochs', '1', '--batch-size', '3', '--test-fraction',
                 '0.25', '--windows', '2', '--no-embeddings',
                 '--no-progress']) == 0
    captured = capsys.readouterr()
    assert 'training:' not in captured.err + captured.out, captured
    assert 'main/loss' in captured.err, captured.err
