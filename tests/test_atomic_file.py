"""Atomic writes never replace what is not a regular file."""
import os
import stat
import threading

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.cli.run.outputs import check_output


def _read_fifo(path, into):
    with open(path) as f:
        into.append(f.read())


def test_a_named_pipe_is_written_in_place_not_replaced(tmp_path):
    """``-o /dev/null`` or a named pipe: renaming a temporary file over it
    would replace the device (as root, /dev/null itself) with a regular
    file."""
    fifo = tmp_path / 'pipe'
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=_read_fifo, args=(fifo, received))
    reader.start()
    with atomic_write(fifo, 'w') as f:
        f.write('scores\n')
    reader.join(timeout=10)
    assert received == ['scores\n']
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['pipe']
    assert check_output(str(fifo)) == str(fifo)


def test_a_link_to_a_file_keeps_the_link(tmp_path):
    target = tmp_path / 'results.json'
    target.write_text('old')
    link = tmp_path / 'latest.json'
    link.symlink_to(target)
    with atomic_write(link, 'w') as f:
        f.write('new')
    assert link.is_symlink() and target.read_text() == 'new'
