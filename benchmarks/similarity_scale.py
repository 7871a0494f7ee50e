""""More like this" at 10 k, 100 k and 1 M stored tracks: building the
index from the store, answering a query, and memory.

    python benchmarks/similarity_scale.py [--sizes 10000 100000 1000000]
        [--queries 200] [--results PATH]

Each size runs in a process of its own (so its peak resident memory is
its own, read from ``wait4``): a library store in a temporary folder gets
``n`` synthetic embeddings of the default embedding's dimension (72:
rnn0-msd's 32 features and 40 MFCC statistics; written in batches of
10,000 through
``LibraryStore.put_embeddings``, as a library run does), then

* **build**: ``LibrarySimilarity(db).index()`` reads them back, fits
  the index (library mean and standard deviation, principal axes, unit
  rows) and saves it beside the database, as the first query after any
  change does;
* **load**: the next ``LibrarySimilarity(db).index()`` of the unchanged
  store, which loads the saved index (what each ``similar`` command
  pays);
* **query**: the 10 nearest stored files of ``--queries`` stored files
  (``LibrarySimilarity.to_stored``'s search, the query left out), timed
  one at a time: median and 95th percentile of the wall time, and the
  median CPU time of the thread (what the query costs when the machine's
  other users leave it a core);
* **recall@10** of those answers against exact search done independently
  (float64 cosine over every projected row, NumPy), which the index's
  search is meant to equal.

The synthetic vectors are a random low-rank signal (24 directions,
decaying variances) plus noise in every dimension.  Exact search costs
the same for any values; what the 32 principal axes keep of real
embeddings is measured by ``similarity_quality.py`` (the default's row
is the product's own index).  Runs on the
2-core machine in about a minute.  Writes
``benchmarks/results/similarity_scale.json`` (``--results``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recording import Recorder, add_results_option

from chainer_tagger.configuration import (CRNN_GRU_UNITS,
                                          DEFAULT_EMBED_MODEL,
                                          SIMILARITY_MFCC)

#: The default embedding's size: rnn0-msd's 32 GRU units and 40 MFCC
#: statistics (``DEFAULT_EMBED_MODEL``).
DIM = CRNN_GRU_UNITS + 2 * SIMILARITY_MFCC['n_mfcc']
SIZES = (10000, 100000, 1000000)


def synthetic(n, start, rng_seed=0):
    """Rows ``start..start+n`` of the synthetic library (deterministic)."""
    basis_rng = np.random.default_rng(rng_seed)
    basis = basis_rng.standard_normal((24, DIM)) / np.sqrt(DIM)
    spectrum = 3.0 * 0.9 ** np.arange(24)
    rng = np.random.default_rng(rng_seed + 1 + start)
    signal = (rng.standard_normal((n, 24)) * spectrum) @ basis
    noise = 0.3 * rng.standard_normal((n, DIM))
    return np.maximum(signal + noise + 0.5, 0.0).astype('<f4')


def one_size(n, queries, folder):
    """The measurements of one size, as a dict (run in a child)."""
    from chainer_tagger.library.file_identity import FileIdentity
    from chainer_tagger.library.similarity import LibrarySimilarity
    from chainer_tagger.library.store import LibraryStore, ModelIdentity
    db = Path(folder) / 'lib-{}.db'.format(n)
    t = time.perf_counter()
    with LibraryStore(db) as store:
        model = store.model_id(ModelIdentity(
            DEFAULT_EMBED_MODEL, '0' * 64,
            {'fused': {'blocks': [CRNN_GRU_UNITS, DIM - CRNN_GRU_UNITS]}},
            {}))
        for start in range(0, n, 10000):
            part = synthetic(min(10000, n - start), start)
            store.put_embeddings(model, [
                ('/music/{:07d}.mp3'.format(start + i).encode(),
                 FileIdentity(1000 + i, i, None), row.tobytes())
                for i, row in enumerate(part)])
        write = time.perf_counter() - t
    t = time.perf_counter()
    with LibrarySimilarity(db) as library:
        library.index()  # read, fitted and saved beside the database
    build = time.perf_counter() - t
    t = time.perf_counter()
    with LibrarySimilarity(db) as library:
        index = library.index()  # the saved one
    load = time.perf_counter() - t
    rng = np.random.default_rng(7)
    rows = rng.choice(n, queries, replace=False)
    times, cpu, recalls = [], [], []
    reference = index.columns.T.astype(np.float64)
    for r in rows:
        t, c = time.perf_counter(), time.thread_time()
        answer = index.search_projected(index.stored_row(r), 10,
                                        [int(index.file_ids[r])])[0]
        times.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        if len(recalls) < 20:  # exact float64 search is slow: 20 queries
            scores = reference @ reference[r]
            scores[r] = -np.inf
            exact = set(index.file_ids[np.argsort(-scores)[:10]].tolist())
            recalls.append(len(exact & {i for i, _ in answer}) / 10)
    size = os.path.getsize(db)
    return {'n': n, 'write': write, 'build': build, 'load': load,
            'query_median': float(np.median(times)),
            'query_p95': float(np.percentile(times, 95)),
            'query_cpu': float(np.median(cpu)),
            'recall': float(np.mean(recalls)), 'db_bytes': size,
            'index_bytes': index.columns.nbytes + index.file_ids.nbytes,
            'dimensions': index.columns.shape[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
    parser.add_argument('--queries', type=int, default=200)
    parser.add_argument('--one', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--folder', help=argparse.SUPPRESS)
    add_results_option(parser, 'similarity_scale')
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_size(args.one, args.queries, args.folder)))
        return
    rec = Recorder('similarity_scale')
    rows = rec.table(
        'scale', 'Exact search of synthetic {}-d embeddings (standardised, '
        '32 principal axes, cosine)'.format(DIM),
        ['stored tracks', 'store write (s)', 'index build (s)',
         'saved index load (s)',
         'query median (ms)', 'query p95 (ms)', 'query CPU median (ms)',
         'recall@10 vs exact',
         'index (MB)', 'peak memory (MB)'])
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            child = subprocess.Popen(
                [sys.executable, __file__, '--one', str(n), '--queries',
                 str(args.queries), '--folder', folder],
                stdout=subprocess.PIPE)
            out = child.stdout.read()
            _, status, usage = os.wait4(child.pid, 0)
            if status != 0:
                sys.exit('size {} failed'.format(n))
        m = json.loads(out)
        peak = usage.ru_maxrss / 1024  # KiB on Linux
        rows.append(['{:,}'.format(n), '{:.1f}'.format(m['write']),
                     '{:.2f}'.format(m['build']),
                     '{:.2f}'.format(m['load']),
                     '{:.1f}'.format(1e3 * m['query_median']),
                     '{:.1f}'.format(1e3 * m['query_p95']),
                     '{:.1f}'.format(1e3 * m['query_cpu']),
                     '{:.2f}'.format(m['recall']),
                     '{:.0f}'.format(m['index_bytes'] / 2 ** 20),
                     '{:.0f}'.format(peak)])
        print(rows[-1], file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    rec.write(args.results, note='One query at a time, single-threaded; '
              'the machine is shared (load average {:.1f} on its {} cores '
              'at the end).'.format(load, os.cpu_count()))


if __name__ == '__main__':
    main()
