"""``serve``'s page on a large store: the first page of a synthetic
100,000-track library, and filtered and sorted pages before and after the
side index of scores by tag.

    python benchmarks/web_page.py [--tracks 100000] [--rounds 5]

The store is written through the real ``LibraryStore`` (so of the real
schema): one model with the 50 MSD tags, each track's scores seeded.  The
pages are requested through the app (Starlette's test client: routing,
SQL, templates, no network); the first request is timed alone (cold: the
models are counted once), then the best of ``--rounds``.  The goal of
issue 24: the first page under 300 ms.  Writes the table to
``benchmarks/results/web_page.json`` (``--results``).
"""
import argparse
import random
import tempfile
import time
from pathlib import Path

from recording import Recorder, add_results_option


def make_store(db, n, seed=0, batch=5000):
    """A store of ``n`` tracks, 50 MSD tags each, seeded scores."""
    from chainer_tagger.configuration import MSD_TAGS
    from chainer_tagger.library.file_identity import FileIdentity
    from chainer_tagger.library.store import LibraryStore, ModelIdentity
    rng = random.Random(seed)
    with LibraryStore(db) as store:
        model = store.model_id(ModelIdentity(
            'crnn-msd', '0' * 64, {'tags': list(MSD_TAGS)}, {}))
        rows = []
        for i in range(n):
            scores = sorted(((rng.random(), t) for t in MSD_TAGS),
                            reverse=True)
            path = '/music/artist{:04d}/track{:06d}.mp3'.format(i % 997, i)
            rows.append((path.encode(), FileIdentity(4000000 + i, i, None),
                         {'path': path, 'model': 'crnn-msd', 'warnings': [],
                          'tags': [{'tag': t, 'score': s}
                                   for s, t in scores]}))
            if len(rows) == batch:
                store.put(model, rows)
                rows = []
        if rows:
            store.put(model, rows)


def timed(client, url, rounds):
    """``(first, best of rounds)`` seconds of ``GET url``."""
    times = []
    for _ in range(1 + rounds):
        t = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (url, r.status_code)
    return times[0], min(times[1:])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tracks', type=int, default=100000)
    p.add_argument('--rounds', type=int, default=5)
    add_results_option(p, 'web_page')
    args = p.parse_args()
    from starlette.testclient import TestClient
    from chainer_tagger.web.app import build_app
    recorder = Recorder('web_page')
    rows = recorder.table(
        'web_page', "serve's pages on a synthetic store of {:,} tracks, 50 "
        'tags each (through the app, no network)'.format(args.tracks),
        ['page', 'first request (ms)', 'best of {} (ms)'.format(args.rounds)])
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / 'big.db'
        t = time.perf_counter()
        make_store(db, args.tracks)
        print('store of {} tracks written in {:.1f} s ({:.0f} MB)'.format(
            args.tracks, time.perf_counter() - t, db.stat().st_size / 1e6))
        t = time.perf_counter()
        app = build_app(db)
        start = time.perf_counter() - t
        print('start: {:.0f} ms'.format(1000 * start))
        with TestClient(app, base_url='http://127.0.0.1') as client:
            pages = [('first page', '/'),
                     ('page 1000', '/?page=1000'),  # offset, by path
                     ('track page', '/track/50000')]
            for name, url in pages:
                first, best = timed(client, url, args.rounds)
                rows.append([name, '{:.0f}'.format(1000 * first),
                             '{:.0f}'.format(1000 * best)])
                print('{}: {:.0f} ms first, {:.0f} ms best'.format(
                    name, 1000 * first, 1000 * best))
            # Asked for at once: it waits for the side index being built.
            view = app.state.view
            filtered = '/?tag=rock&min=0.9&tag=jazz&min=0.5&sort=pop'
            t = time.perf_counter()
            assert client.get(filtered).status_code == 200
            waited = time.perf_counter() - t
            rows.append(['2 filters + sort, while the index is built',
                         '{:.0f}'.format(1000 * waited), ''])
            for name, url in [('page 1000, indexed', '/?page=1000'),
                              ('2 filters + sort, indexed', filtered),
                              ('sorted by a tag, indexed', '/?sort=jazz'),
                              ('1 filter, page 20, indexed',
                               '/?tag=rock&min=0.5&page=20')]:
                first, best = timed(client, url, args.rounds)
                rows.append([name, '{:.0f}'.format(1000 * first),
                             '{:.0f}'.format(1000 * best)])
                print('{}: {:.0f} ms first, {:.0f} ms best'.format(
                    name, 1000 * first, 1000 * best))
        # The same query over the JSON, as without the index.
        from chainer_tagger.web.store_view import Query
        model = view.models()[0]['id']
        view.index.current = lambda: None
        view.index.wait = lambda timeout=None: None
        t = time.perf_counter()
        view.tracks(Query(model, [('rock', 0.9), ('jazz', 0.5)], 'pop'))
        json_seconds = time.perf_counter() - t
    recorder.line('start (the store checked, its tracks counted, the side '
                  'index of scores by tag started in the background): {:.0f} '
                  'ms'.format(1000 * start))
    recorder.line('the same 2 filters + sort over the JSON, without the '
                  'index (the machine otherwise idle): {:.2f} s'.format(
                      json_seconds))
    recorder.write(args.results)


if __name__ == '__main__':
    main()
