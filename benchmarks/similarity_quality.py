"""Which embedding makes "more like this" work: leave-one-out genre
precision@5 on gtzan-mini for every candidate, against an MFCC baseline.

    python benchmarks/similarity_quality.py [--cache DIR] [--models ...]
        [--bootstrap 2000] [--results PATH]

For each of the 70 clips of ``$CHAINER_TAGGER_SHARED/gtzan-mini`` (10
genres, 7 each), its 5 nearest other clips are found; precision@5 is the
share of them in the query's genre (chance: 6/69 = 0.087).  Candidates:

* each model's feature vector (``extract``: cnn-msd's 256 activations,
  crnn-msd's 32-d GRU state, SoundNet-8's flattened ``conv8_2``, the early
  CNN0/RNN0 taggers run per clip) and the taggers' 50 tag scores (their
  classifier applied to those features);
* the window: the centre window, or the mean over windows every 0.44 s
  (``--window full``; a 30 s GTZAN clip holds 3 of the 29.12 s melgram
  windows, so the two can hardly differ here; measured anyway);
* normalisation: raw (Euclidean distance), standardised (each dimension
  z-scored over the library, Euclidean), L2-normalised (cosine), and
  standardised then cosine;
* the baseline: MFCC mean and standard deviation over frames (20
  coefficients, librosa defaults at 22,050 Hz: 40 values).

The spread is a 95% bootstrap interval over the queries (``--bootstrap``
resamples of the 70 queries, seeded), and for the best candidate a paired
bootstrap of its difference from the best MFCC variant: a margin that
"survives the spread" is one whose interval excludes zero.  Per-genre
standard deviation of precision@5 is given too.

Features are computed once per model and kept in ``--cache`` (default: a
folder in the system's temporary directory, never the repository), so
re-scoring is instant.  Needs CHAINER_TAGGER_WEIGHTS_DIR, as the tests.
Writes ``benchmarks/results/similarity_quality.json`` (``--results``).
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recording import Recorder, add_results_option

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('CHAINER_TAGGER_SHARED', ROOT.parent / 'shared'))
MODELS = ('cnn-msd', 'crnn-msd', 'soundnet8', 'cnn0-msd', 'rnn0-msd')
#: Models whose windows are compared (centre vs the mean over windows).
WINDOWED = ('cnn-msd', 'crnn-msd')
FULL_HOP = 0.44
K = 5


def clips():
    """``(paths, genres)`` of gtzan-mini, sorted."""
    paths = sorted((SHARED / 'gtzan-mini' / 'genres').glob('*/*.wav'))
    if not paths:
        sys.exit('no clips under {}'.format(SHARED / 'gtzan-mini'))
    return paths, np.array([p.parent.name for p in paths])


def model_features(name, paths, window, cache):
    """``(features, tag scores or None)`` of every clip: one row per clip
    (the mean over windows with ``window='full'``), cached as ``.npz``."""
    out = Path(cache) / '{}-{}.npz'.format(name, window)
    if out.exists():
        data = np.load(out)
        return data['features'], (data['scores'] if 'scores' in data
                                   else None)
    from chainer_tagger.inference.embedding import embed_files
    from chainer_tagger.models.loading import load_model
    overrides = {'per_clip': True} if name in ('cnn0-msd', 'rnn0-msd') \
        else {}
    model = load_model(name, **overrides)
    t = time.perf_counter()
    if window == 'centre':
        feats, index = embed_files(model, paths, window='centre')
    else:
        feats, index = embed_files(model, paths, window='full', hop=FULL_HOP,
                                   aggregate='mean')
    if len(feats) != len(paths):
        sys.exit('{}: {} of {} clips embedded'.format(name, len(feats),
                                                      len(paths)))
    print('{} ({}): {} clips in {:.0f} s'.format(
        name, window, len(paths), time.perf_counter() - t), file=sys.stderr)
    arrays = {'features': feats.astype(np.float64)}
    if model.tags is not None:
        # The classifier applied to the (mean) features: the tag vector.
        import chainer
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            arrays['scores'] = np.asarray(model.scores(model.output(
                feats.astype(model.dtype))).array, np.float64)
    np.savez(out, **arrays)
    return arrays['features'], arrays.get('scores')


def mfcc_features(paths, cache):
    """MFCC mean and standard deviation over frames (librosa defaults, 20
    coefficients at 22,050 Hz), cached."""
    out = Path(cache) / 'mfcc.npy'
    if out.exists():
        return np.load(out)
    import librosa
    rows = []
    for p in paths:
        y, sr = librosa.load(str(p), sr=22050, mono=True)
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
        rows.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    rows = np.array(rows, np.float64)
    np.save(out, rows)
    return rows


def normalised(x, how):
    """``x`` made ready for a distance: ``raw``, ``standardised``,
    ``cosine`` (L2-normalised rows) or ``standardised+cosine``."""
    x = np.asarray(x, np.float64)
    if how.startswith('standardised'):
        x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-12)
    if how.endswith('cosine'):
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def hits_at_k(x, genres, how, k=K):
    """Per query, the share of its ``k`` nearest other clips in its genre
    (Euclidean distance after :func:`normalised`; for unit rows that is
    the cosine order)."""
    x = normalised(x, how)
    sq = (x * x).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(d, np.inf)  # leave the query out
    nearest = np.argsort(d, axis=1, kind='stable')[:, :k]
    return (genres[nearest] == genres[:, None]).mean(axis=1)


def bootstrap(hits, n, seed=0):
    """95% interval of the mean of ``hits`` over ``n`` resamples."""
    rng = np.random.default_rng(seed)
    means = hits[rng.integers(0, len(hits), (n, len(hits)))].mean(axis=1)
    return np.percentile(means, [2.5, 97.5])


def per_genre_std(hits, genres):
    return float(np.std([hits[genres == g].mean()
                         for g in np.unique(genres)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cache', default=os.path.join(
        tempfile.gettempdir(), 'chainer-tagger-similarity-features'),
        help='where features are kept between runs (not the repository)')
    parser.add_argument('--models', nargs='*', default=list(MODELS))
    parser.add_argument('--bootstrap', type=int, default=2000)
    parser.add_argument('--compute-only', action='store_true',
                        help='compute and cache the features, score nothing')
    add_results_option(parser, 'similarity_quality')
    args = parser.parse_args(argv)
    os.makedirs(args.cache, exist_ok=True)
    paths, genres = clips()

    candidates = {}  # name -> features
    candidates['mfcc mean+std (40)'] = mfcc_features(paths, args.cache)
    for name in args.models:
        windows = ('centre', 'full') if name in WINDOWED else ('centre',)
        for window in windows:
            feats, scores = model_features(name, paths, window, args.cache)
            what = 'centre' if window == 'centre' else \
                'mean of windows every {} s'.format(FULL_HOP)
            candidates['{} features ({}), {}'.format(
                name, feats.shape[1], what)] = feats
            if scores is not None:
                candidates['{} tag scores ({}), {}'.format(
                    name, scores.shape[1], what)] = scores
    if args.compute_only:
        return

    rec = Recorder('similarity_quality')
    rows = rec.table(
        'candidates', 'Leave-one-out genre precision@5 on gtzan-mini ({} '
        'clips, {} genres; chance {:.3f})'.format(
            len(paths), len(set(genres)), (len(paths) / len(set(genres)) - 1)
            / (len(paths) - 1)),
        ['embedding', 'normalisation', 'precision@5', '95% interval',
         'per-genre std'])
    scored = []
    for name, feats in candidates.items():
        for how in ('raw', 'standardised', 'cosine', 'standardised+cosine'):
            hits = hits_at_k(feats, genres, how)
            low, high = bootstrap(hits, args.bootstrap)
            scored.append((hits.mean(), name, how, hits))
            rows.append([name, how, '{:.3f}'.format(hits.mean()),
                         '{:.3f} - {:.3f}'.format(low, high),
                         '{:.3f}'.format(per_genre_std(hits, genres))])
            print('{:.3f} [{:.3f}, {:.3f}]  {} / {}'.format(
                hits.mean(), low, high, name, how), file=sys.stderr)
    scored.sort(key=lambda s: -s[0])
    best = scored[0]
    baseline = max((s for s in scored if s[1].startswith('mfcc')),
                   key=lambda s: s[0])
    diff = best[3] - baseline[3]
    low, high = bootstrap(diff, args.bootstrap, seed=1)
    rec.line('Best: {} / {}, precision@5 {:.3f}; best MFCC variant ({}) '
             '{:.3f}; paired difference {:+.3f} (95% bootstrap interval '
             '{:+.3f} to {:+.3f}{}).'.format(
                 best[1], best[2], best[0], baseline[2], baseline[0],
                 diff.mean(), low, high,
                 ', excludes zero' if low > 0 else ', includes zero'))
    rec.write(args.results)


if __name__ == '__main__':
    main()
