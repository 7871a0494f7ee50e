"""The library mode against plain tagging: end-to-end clips/s with and
without the store, with the embeddings ``tag --db`` stores by default,
the time the store takes, a re-run, and the store alone.

    python benchmarks/library.py [--files 48] [--rounds 2] [--gpu ID]

The files are the four Bensound mp3s of ../shared under 48 names
(symbolic links, so each is a file of its own to the library).  Plain
tagging (``chainer_tagger.tag``) and the library mode (``LibraryRun`` with
a new store) alternate ``--rounds`` times on the same loaded model, so a
machine that gets busier or quieter moves both alike; the best round of
each is printed, with its store time.  A third run in each round also
stores every file's embedding by the default embedding model
(``rnn0-msd+mfcc``), as the command line's ``tag --db`` does.  Then a re-run over the full store
(everything reused), and the store alone: committing 10,000 results of
50 tags in batches of 16.  ``benchmarks/run.py`` prints the same rows.
Writes the table to ``benchmarks/results/library.json`` (``--results``).
Needs CHAINER_TAGGER_WEIGHTS_DIR, as the tests.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from recording import Recorder, add_results_option

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('CHAINER_TAGGER_SHARED', ROOT.parent / 'shared'))


def library_folder(folder, n):
    """``n`` links to the Bensound mp3s in ``folder``."""
    songs = sorted((SHARED / 'audio').glob('*.mp3'))
    for i in range(n):
        os.symlink(songs[i % len(songs)], Path(folder) / '{:03d}-{}'.format(
            i, songs[i % len(songs)].name))
    return folder


def store_alone(folder, n=10000, batch=16):
    """Seconds to commit ``n`` results of 50 tags, ``batch`` at a time."""
    from chainer_tagger.configuration import MSD_TAGS
    from chainer_tagger.library.file_identity import FileIdentity
    from chainer_tagger.library.store import LibraryStore, ModelIdentity
    result = {'path': 'x', 'model': 'crnn-msd', 'warnings': [],
              'tags': [{'tag': t, 'score': 0.5 / (i + 1)}
                       for i, t in enumerate(MSD_TAGS)]}
    with LibraryStore(Path(folder) / 'alone.db') as store:
        model = store.model_id(ModelIdentity('m', '0' * 64, {}, {}))
        t = time.perf_counter()
        for start in range(0, n, batch):
            store.put(model, [('/music/{:06d}.mp3'.format(i).encode(),
                               FileIdentity(4000000 + i, i, None), result)
                              for i in range(start, min(n, start + batch))])
        return time.perf_counter() - t


def library_rows(tagger, n_files=48, rounds=2, out=print, recorder=None):
    """Print the rows; ``tagger`` is a loaded crnn-msd.  With a
    ``recorder`` (``recording.Recorder``), the same numbers go into its
    ``library`` table."""
    from chainer_tagger.inference import tag
    from chainer_tagger.library import LibraryRun
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / 'music'
        folder.mkdir()
        library_folder(folder, n_files)
        tag([folder], model=tagger)  # warm-up: imports, resampling tables
        plain, library, embedding = [], [], []
        for r in range(rounds):
            t = time.perf_counter()
            results = tag([folder], model=tagger, batch_size=16)
            plain.append(time.perf_counter() - t)
            assert all('tags' in x for x in results)
            db = Path(d) / 'round{}.db'.format(r)
            t = time.perf_counter()
            with LibraryRun([folder], tagger, db=db, batch_size=16) as run:
                summary = run.tag()
                report = list(run.results())
            library.append((time.perf_counter() - t, summary.store_seconds))
            assert summary.tagged == n_files and len(report) == n_files
            db = Path(d) / 'embedded{}.db'.format(r)
            t = time.perf_counter()
            with LibraryRun([folder], tagger, db=db, batch_size=16,
                            embed_model='default') as run:
                summary = run.tag()
            embedding.append(time.perf_counter() - t)
            assert summary.embedded == n_files
        best_plain = min(plain)
        best_library, store_seconds = min(library)
        out('end to end, mp3 -> tags, crnn-msd, {} files, best of {} '
            'interleaved rounds:'.format(n_files, rounds))
        out('  plain tag: {:.2f} clips/s (rounds: {})'.format(
            n_files / best_plain, ', '.join(
                '{:.2f}'.format(n_files / s) for s in plain)))
        out('  library, new store (--db): {:.2f} clips/s (rounds: {}); '
            'store writes {:.3f} s = {:.2f} % of the run'.format(
                n_files / best_library, ', '.join(
                    '{:.2f}'.format(n_files / s) for s, _ in library),
                store_seconds, 100 * store_seconds / best_library))
        out('  library, new store, with embeddings (rnn0-msd+mfcc): {:.2f} '
            'clips/s (rounds: {})'.format(n_files / min(embedding), ', '.join(
                '{:.2f}'.format(n_files / s) for s in embedding)))
        t = time.perf_counter()
        with LibraryRun([folder], tagger, db=Path(d) / 'round0.db') as run:
            summary = run.tag()
            report = list(run.results())
        assert summary.reused == n_files
        rerun = time.perf_counter() - t
        out('  library re-run, every file reused: {:.2f} s for {} files '
            '(stat, store read, results read)'.format(rerun, n_files))
        seconds = store_alone(d)
        out('store alone: 10,000 results of 50 tags committed 16 at a time: '
            '{:.2f} s ({:.2f} ms a batch, {:.0f} results/s)'.format(
                seconds, 1000 * seconds / (10000 / 16), 10000 / seconds))
    if recorder is not None:
        rows = recorder.table(
            'library', 'Library mode against plain tagging: {} mp3s, '
            'crnn-msd, batch 16, best of {} interleaved rounds'.format(
                n_files, rounds), ['run', 'clips/s', 'rounds', 'store writes'])
        rows.append(['plain tag', '{:.2f}'.format(n_files / best_plain),
                     ', '.join('{:.2f}'.format(n_files / s) for s in plain),
                     '-'])
        rows.append(['tag --db, new store', '{:.2f}'.format(
            n_files / best_library), ', '.join(
                '{:.2f}'.format(n_files / s) for s, _ in library),
            '{:.3f} s = {:.2f} % of the run'.format(
                store_seconds, 100 * store_seconds / best_library)])
        rows.append(['tag --db, new store, with embeddings (rnn0-msd+mfcc, '
                     'the command line\'s default)',
                     '{:.2f}'.format(n_files / min(embedding)), ', '.join(
                         '{:.2f}'.format(n_files / s) for s in embedding),
                     '-'])
        rows.append(['tag --db again, all {} reused'.format(n_files),
                     '{} files in {:.2f} s'.format(n_files, rerun), '-', '-'])
        rows.append(['the store alone: 10,000 results of 50 tags, 16 a '
                     'commit', '{:.0f} results/s'.format(10000 / seconds),
                     '-', '{:.2f} ms a batch'.format(
                         1000 * seconds / (10000 / 16))])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--files', type=int, default=48)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--gpu', type=int, default=None)
    add_results_option(p, 'library')
    args = p.parse_args()
    from chainer_tagger.device import to_device
    from chainer_tagger.models import load_model
    recorder = Recorder('library')
    library_rows(to_device(load_model('crnn-msd'), args.gpu), args.files,
                 args.rounds, recorder=recorder)
    recorder.write(args.results)


if __name__ == '__main__':
    sys.exit(main())
