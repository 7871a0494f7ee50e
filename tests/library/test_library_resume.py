"""A library run killed with SIGKILL at random points resumes to the
result of an uninterrupted run, each file stored once; and ``mpiexec -n
2`` shares the files between two processes and merges their results."""
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainer_tagger.inference import tag

from conftest import ROOT
from library_fixture import (make_library, make_tiny_model,
                             scores_and_results)

ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep +
           os.environ.get('PYTHONPATH', ''))


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.npz')


def stored(db):
    """Results committed so far (a reader does not disturb the writer in
    WAL mode); -1 before the tables exist."""
    if not Path(db).exists():
        return -1
    try:
        conn = sqlite3.connect(Path(db).as_uri() + '?mode=ro', uri=True)
        try:
            return conn.execute('SELECT count(*) FROM results').fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def scores(results):
    """``{path: scores in tag order}``."""
    return {r['path']: np.array([t['score'] for t in sorted(
        r['tags'], key=lambda t: t['tag'])]) for r in results}


def assert_same_results(results, reference):
    assert [r['path'] for r in results] == [r['path'] for r in reference]
    a, b = scores(results), scores(reference)
    # Other batch mates change the last bits only (BLAS order).
    assert max(np.abs(a[p] - b[p]).max() for p in a) < 1e-5


def assert_each_file_once(db, n):
    with contextlib.closing(sqlite3.connect(db)) as conn:
        files = [r[0] for r in conn.execute('SELECT file_id FROM results')]
        assert conn.execute('PRAGMA integrity_check').fetchone() == ('ok',)
    assert len(files) == len(set(files)) == n
    stored, from_json = scores_and_results(db)  # written with each batch
    assert stored == from_json and len({f for f, _, _ in stored}) == n


@pytest.mark.slow
def test_runs_killed_at_random_points_resume_to_the_same_results(
        tmp_path, model_file):
    n = 80
    lib = tmp_path / 'lib'
    make_library(lib, n)
    db = tmp_path / 'lib.db'
    cmd = [sys.executable, '-m', 'chainer_tagger.cli', 'tag', str(lib),
           '-m', str(model_file), '--db', str(db), '-b', '4', '-f', 'json',
           '--no-progress']
    rng = np.random.RandomState(2024)
    counts = []
    # Kill once as soon as the database appears (while it is created),
    # then at random moments after 10, 35 and 60 files are stored.
    for threshold in (-1, 10, 35, 60):
        # Its messages go to a file, read when a run ends before it is
        # killed (it once did, with status 2, saying nothing).
        err = open(tmp_path / 'stderr-{}.txt'.format(threshold), 'w+')
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=err)
        while proc.poll() is None and (
                not db.exists() if threshold < 0 else
                stored(db) < threshold):
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05 if threshold < 0 else 0.4))
        proc.kill()
        status = proc.wait()
        err.seek(0)
        said = err.read()
        err.close()
        assert status == -9, 'the run ended before it was killed ({}): {}'\
            .format(status, said[-2000:])
        counts.append(stored(db))
    assert counts[1] < counts[2] < counts[3] < n
    final = subprocess.run(cmd, env=ENV, capture_output=True, text=True,
                           check=True)
    assert '{} files: {} reused, {} tagged'.format(
        n, counts[-1], n - counts[-1]) in final.stderr
    uninterrupted = tag([lib], str(model_file))
    assert_same_results(json.loads(final.stdout), uninterrupted)
    assert_each_file_once(db, n)


MPIEXEC = shutil.which('mpiexec')


@pytest.mark.mpi
@pytest.mark.slow
def test_two_mpi_processes_share_the_files_and_rank_0_merges(
        tmp_path, model_file):
    if MPIEXEC is None:
        raise RuntimeError('mpiexec not found: install Open MPI (Debian: '
                           'openmpi-bin; `make test` does)')
    n = 20
    lib = tmp_path / 'lib'
    make_library(lib, n)
    db = tmp_path / 'lib.db'
    env = dict(ENV, OMPI_ALLOW_RUN_AS_ROOT='1',
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMPI_MCA_rmaps_base_oversubscribe='1')
    cmd = [MPIEXEC, '-n', '2', sys.executable, '-m', 'chainer_tagger.cli',
           'tag', str(lib), '-m', str(model_file), '--db', str(db), '-b',
           '4', '-f', 'json', '--no-progress', '--distributed',
           '--embed-model', str(model_file)]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           check=True)
    # Each process tagged its half; rank 0 alone printed the results.
    assert 'process 0 of 2: tagged 10 files' in first.stderr
    assert 'process 1 of 2: tagged 10 files' in first.stderr
    assert '{} files: 0 reused, {} tagged'.format(n, n) in first.stderr
    assert_same_results(json.loads(first.stdout),
                        tag([lib], str(model_file)))
    assert_each_file_once(db, n)
    # The embeddings too, shared the same way and stored by rank 0.
    assert 'embeddings: {} files embedded by tiny.npz'.format(n) in \
        first.stderr
    with contextlib.closing(sqlite3.connect(db)) as conn:
        embedded = [r[0] for r in conn.execute(
            'SELECT file_id FROM embeddings WHERE vector IS NOT NULL')]
    assert len(embedded) == len(set(embedded)) == n
    # Run again: every result is reused, the output is the same text.
    again = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           check=True)
    assert '{} files: {} reused, 0 tagged'.format(n, n) in again.stderr
    assert 'embeddings:' not in again.stderr
    assert 'process 1 of 2: tagged 0 files' in again.stderr
    assert again.stdout == first.stdout
