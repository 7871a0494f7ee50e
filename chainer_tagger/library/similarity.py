""""More like this": the stored files that sound most like a given one.

A library run with an embedding model (``tag --db``, see
``library.runner`` and
:mod:`~chainer_tagger.library.embedders`) stores each file's embedding.
The similarity of two files is the cosine of their embeddings once
*standardised* (each dimension centred and scaled by its mean and standard
deviation over the stored library; the blocks of a fused embedding
weighed alike) and projected on the library's first
:data:`~chainer_tagger.configuration.SIMILARITY_DIMENSIONS` principal
axes.  Both were chosen by measurement on gtzan-mini: standardising then
taking the cosine gives the embeddings their best leave-one-out genre
precision@5, and the projection on 32 axes keeps it, while making
exact search of a million tracks a 32-row matrix product
(``benchmarks/similarity_quality.py``,
``benchmarks/similarity_scale.py``; docs/guide/similar.rst).

The search is exact (no approximate index, so nothing to tune and recall
1 against exact search in that space).  The :class:`SimilarityIndex` is
built from a snapshot of the store together with the store's
``embeddings`` generation, a random stamp every change of the embeddings
draws anew in its own transaction; :class:`LibrarySimilarity` compares it
with the store's at every query and rebuilds when they differ, so an
answer is never older than the store.

Files are named by the store's ``files.id`` (the primary key of a file
row: one per absolute path, see
``library.file_identity.path_key``), as
:func:`similar_to_stored` takes and returns them.
"""
import atexit
import csv
import io
import json
import os
import sys
import threading

import numpy as np

from chainer_tagger.atomic_file import atomic_write, \
    remove_stale_partials
from chainer_tagger.configuration import (DEFAULT_EMBED_MODEL,
                                          SIMILAR_EXTRA, SIMILAR_TOP,
                                          SIMILARITY_DIMENSIONS,
                                          SIMILARITY_INDEX_FORMAT,
                                          SIMILARITY_PCA_SAMPLE)
from chainer_tagger.errors import InputError, LibraryStoreError, UsageError
from chainer_tagger.library.file_identity import identify, path_key, \
    same_file
from chainer_tagger.library.embedders import embedder
from chainer_tagger.library.runner import embedder_identity
from chainer_tagger.library.store import LibraryStore, existing_version


class SimilarityIndex:
    """Exact cosine search over one embedding model's stored vectors.

    Parameters
    ----------
    file_ids : array of int, (n,)
        The store's file id of each row.
    vectors : float array, (n, d)
        The embeddings as stored.
    dimensions : int
        Principal axes kept (fewer when the library has fewer files or
        dimensions).
    generation : int, optional
        The store's embeddings generation the vectors were read at.
    blocks : list of int, optional
        Sizes of consecutive parts of a vector (a fused embedding's model
        features, then its MFCCs) that should weigh alike: after
        standardising, each dimension is divided by the square root of its
        block's size.  None: one block.
    """

    #: The arrays :meth:`save` writes and :meth:`load` reads.
    ARRAYS = ('file_ids', 'mean', 'scale', 'axes', 'columns')

    def __init__(self, file_ids, vectors, dimensions=SIMILARITY_DIMENSIONS,
                 generation=None, blocks=None):
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(file_ids):
            raise ValueError('one vector per file id is needed')
        self.file_ids = np.asarray(file_ids, np.int64)
        self.generation = generation
        self.dim = vectors.shape[1]
        self.mean, self.scale, self.axes = _fit(vectors, dimensions,
                                                _weights(blocks, self.dim))
        #: The library in the index's space, one column per file: ``(r,
        #: n)`` C-contiguous, so a query is one ``row @ columns``.
        self.columns = np.ascontiguousarray(self._unit_rows(vectors).T)

    def save(self, f, key):
        """Write the index to an open binary file (NumPy ``.npz``, no
        pickles), with ``key``, the integers that say what it was built
        from."""
        np.savez(f, key=np.asarray(key, np.int64),
                 generation=np.int64(self.generation),
                 **{name: getattr(self, name) for name in self.ARRAYS})

    @classmethod
    def load(cls, path, key):
        """The index saved at ``path`` with this ``key``, or None (no
        file, another key, anything unreadable)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if data['key'].tolist() != list(key):
                    return None
                index = cls.__new__(cls)
                for name in cls.ARRAYS:
                    setattr(index, name, data[name])
                index.generation = int(data['generation'])
        except (OSError, ValueError, KeyError, EOFError):
            return None
        index.dim = len(index.mean)
        return index

    def __len__(self):
        return len(self.file_ids)

    def stored_row(self, i):
        """The ``i``-th stored file in the index's space, ``(1, r)``."""
        return self.columns[:, i][None]

    def _unit_rows(self, vectors, chunk=65536):
        """Standardised, projected, L2-normalised float32 rows (in chunks,
        so a million stored vectors need no float64 copy)."""
        out = np.empty((len(vectors), self.axes.shape[1]), np.float32)
        for start in range(0, len(vectors), chunk):
            # float64: a dimension whose spread is small beside its level
            # loses its digits to cancellation in float32.
            z = (vectors[start:start + chunk].astype(np.float64)
                 - self.mean) / self.scale
            p = z @ self.axes
            norm = np.linalg.norm(p, axis=1, keepdims=True)
            out[start:start + chunk] = p / np.maximum(norm, 1e-12)
        return out

    def project(self, vectors):
        """Query vectors (``(m, d)`` as stored) in the index's space."""
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        return self._unit_rows(vectors)

    def search(self, queries, k=SIMILAR_TOP, exclude=()):
        """The ``k`` most similar stored files of each query row.

        Parameters
        ----------
        queries : array, (m, d)
            Embeddings as stored (not yet projected).
        exclude : sequence of (int or None)
            Per query, a file id left out of its answer (the query
            itself), or None.

        Returns
        -------
        list of list of (file id, similarity)
            Best first; ties by file id.
        """
        return self.search_projected(self.project(queries), k, exclude)

    def search_projected(self, q, k=SIMILAR_TOP, exclude=()):
        """:meth:`search` of rows already in the index's space (such as
        :meth:`stored_row`)."""
        exclude = list(exclude) or [None] * len(q)
        answers = []
        for row, skip in zip(q, exclude):
            scores = _scores(self.columns, row)
            want = min(k + (skip is not None), len(scores))
            if want <= 0:
                answers.append([])
                continue
            # Every score tied with the want-th, ordered by (score, file
            # id), then cut: ties are broken by file id, as documented.
            top = _top(scores, want)
            top = top[np.lexsort((self.file_ids[top], -scores[top]))][:want]
            answer = [(int(self.file_ids[i]), float(scores[i])) for i in top
                      if self.file_ids[i] != skip]
            answers.append(answer[:k])
        return answers


def _weights(blocks, dim):
    """Per dimension, how much more its standardised value is divided
    by: the square root of its block's size (ones without blocks)."""
    if not blocks:
        return np.ones(dim)
    if sum(blocks) != dim:
        raise LibraryStoreError('embeddings of {} values, but their model '
                                'says blocks of {}'.format(dim, blocks))
    return np.concatenate([np.full(b, np.sqrt(b)) for b in blocks])


def _fit(vectors, dimensions, weights):
    """``(mean, scale, axes)``: the library's mean and standard deviation
    per dimension times ``weights`` (float64), and its first principal
    axes ``(d, r)`` after standardising, from an evenly spaced
    sample of at most
    :data:`~chainer_tagger.configuration.SIMILARITY_PCA_SAMPLE` rows.

    A dimension is constant, and left out (an infinite scale), when its
    spread is below ``1e-5`` of its level or ``1e-6`` of the largest
    spread: what varies there is float32 rounding, not the music."""
    n, d = vectors.shape
    if n == 0:
        return np.zeros(d), np.ones(d), np.eye(d)[:, :0]
    # Two passes (the mean, then the squares about it): a level far above
    # the spread would cancel the digits of E[x^2] - E[x]^2.
    chunks = [slice(start, start + 65536) for start in range(0, n, 65536)]
    mean = sum(vectors[c].sum(axis=0, dtype=np.float64) for c in chunks) / n
    std = np.sqrt(sum(((vectors[c] - mean) ** 2).sum(axis=0)
                      for c in chunks) / n)
    constant = (std <= 1e-5 * np.abs(mean)) | \
        (std <= 1e-6 * max(float(std.max()), 1e-300))
    scale = np.where(constant, np.inf, std) * weights
    sample = vectors[::max(1, -(-n // SIMILARITY_PCA_SAMPLE))]
    z = (sample.astype(np.float64) - mean) / scale
    r = min(dimensions, d, len(sample))
    # The principal axes: eigenvectors of the sample's scatter matrix,
    # largest variance first (an orthonormal basis of its main span).
    values, vectors_ = np.linalg.eigh(z.T @ z)
    order = np.argsort(-values, kind='stable')[:r]
    # Only axes the library spreads along: an axis without variance (a
    # library of fewer files than axes) would be an arbitrary direction
    # that changes an unknown query's length, hence its cosines.
    order = order[values[order] > 1e-10 * max(float(values.max()), 1e-300)]
    return mean, scale, np.ascontiguousarray(vectors_[:, order])


def _top(scores, k, sample=8192):
    """Indices of the ``k`` largest ``scores`` and of every other score
    equal to the ``k``-th largest (in no order), exactly; every index when
    ``k`` is at least their number.

    The ties are kept so that the caller's order by (score, file id)
    decides which of them are in its top ``k``, not the partition's
    arbitrary pick.

    A full ``argpartition`` of a million scores costs as much as computing
    them; instead the ``k``-th largest of an evenly spaced sample is a
    threshold no higher than the ``k``-th largest of all (a subset's
    ``k``-th largest never exceeds the whole set's), so every score of the
    top ``k`` passes it, and only the few that pass (about ``k * n /
    sample``) are partitioned.  A ``k`` the sample cannot hold (as many
    as its rows or more) partitions all the scores instead."""
    n = len(scores)
    if k >= n:
        return np.arange(n)
    candidates = None
    if n > 4 * sample:
        part = scores[::n // sample]
        if k < len(part):
            threshold = np.partition(part, len(part) - k)[len(part) - k]
            candidates = np.flatnonzero(scores >= threshold)
    if candidates is None:
        candidates = np.arange(n)
    chosen = scores[candidates]
    kth = np.partition(chosen, len(chosen) - k)[len(chosen) - k]
    return candidates[chosen >= kth]


def _scores(columns, row):
    """``row @ columns``: the cosine of a unit row with every stored one.

    NumPy's own product over the C-contiguous ``(r, n)`` columns: measured
    fastest for this shape, and single-threaded, which on a busy machine
    beats SciPy's multi-threaded sgemv by 10 to 30 times (its threads wait
    for each other's cores)."""
    return np.dot(row, columns)


def decode(vector):
    """A stored vector's bytes as a float32 array."""
    return np.frombuffer(vector, '<f4')


def read_index(store, model_id, dimensions=SIMILARITY_DIMENSIONS):
    """A :class:`SimilarityIndex` of a model's embeddings in ``store``, at
    the store's current generation (the blocks of a fused embedding from
    the model's stored settings); rows that are not all finite (a damaged
    store) are left out, with a warning on stderr."""
    blocks = store.model_settings(model_id).get('fused', {}).get('blocks')
    with store.embedding_snapshot(model_id) as (generation, count, rows):
        file_ids = np.empty(count, np.int64)
        vectors = None
        done = 0
        while True:
            # A chunk of rows at a time: one join and one frombuffer per
            # chunk, not per row (a million rows in seconds).
            chunk = rows.fetchmany(16384)
            if not chunk:
                break
            ids, blobs = zip(*chunk)
            if vectors is None:
                vectors = np.empty((count, len(blobs[0]) // 4), np.float32)
            if any(len(b) != 4 * vectors.shape[1] for b in blobs):
                raise LibraryStoreError(
                    '--db {}: embeddings of different sizes for one model '
                    '(damaged?)'.format(store.path))
            part = np.frombuffer(b''.join(blobs), '<f4').reshape(
                len(blobs), -1)
            file_ids[done:done + len(ids)] = ids
            vectors[done:done + len(ids)] = part
            done += len(ids)
    if vectors is None:
        vectors = np.zeros((0, 0), np.float32)
    file_ids, vectors = file_ids[:done], vectors[:done]
    # A damaged row (NaN or infinity) would poison the library's mean and
    # principal axes, so every query; left out, the rest stays usable.
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        print('warning: --db {}: {} stored embedding(s) by model {} not '
              'finite (damaged?), left out of the search'.format(
                  store.path, int(len(finite) - finite.sum()), model_id),
              file=sys.stderr, flush=True)
        file_ids, vectors = file_ids[finite], vectors[finite]
    return SimilarityIndex(file_ids, vectors, dimensions, generation, blocks)


class LibrarySimilarity:
    """Similar files in a library store; use it as a context manager.

    Parameters
    ----------
    db : str or path-like
        A library store (it must exist; it is migrated if older, as any
        open does, unless ``read_only``).
    embed_model : str or model, optional
        The embedding model: a registry name or model file (matched with
        the store's embeddings by name, or by full identity once it has
        to be loaded), or a loaded model.  Default: ``rnn0-msd+mfcc``
        (:data:`~chainer_tagger.configuration.DEFAULT_EMBED_MODEL`) when
        the store holds its embeddings, else the model with the most.
    gpu, batch_size, decoder_delay
        For files embedded on the fly (not in the store, or changed).
    read_only : bool
        Open the store read-only (``mode=ro``; see
        ``library.store.LibraryStore``): never
        migrated (one of an older schema is refused), and no index saved
        beside it (one saved before is still used).
    """

    #: Whether the store's connection may be used from other threads
    #: than the one that opened it (callers then serialise the calls).
    threads = False

    def __init__(self, db, embed_model=None, gpu=None, batch_size=8,
                 decoder_delay='remove', read_only=False):
        if existing_version(db) is None:
            raise LibraryStoreError('--db {}: no library store there; make '
                                    'one with tag --db'.format(
                                        os.fspath(db)))
        self.store = LibraryStore(db, threads=self.threads,
                                  read_only=read_only)
        self.gpu, self.batch_size = gpu, batch_size
        self.decoder_delay = decoder_delay
        self.model = None
        self._index = None
        try:
            self._choose_model(embed_model)
        except BaseException:
            self.store.close()
            raise

    def _choose_model(self, embed_model):
        stored = self.store.embedding_models()
        if embed_model is not None and not isinstance(
                embed_model, (str, os.PathLike)):
            self._use_loaded(embed_model)
            return
        name = None if embed_model is None else \
            os.path.basename(os.fspath(embed_model))
        self.model_source = embed_model
        if name is None:
            names = [n for _, n, _ in stored]
            name = DEFAULT_EMBED_MODEL if DEFAULT_EMBED_MODEL in names or \
                not names else names[0]
            self.model_source = name
        matches = [(i, n) for i, n, _ in stored if n == name]
        if not matches:
            raise LibraryStoreError(
                '--db {}: no embeddings by {} (stored: {}); run tag --db '
                'with --embed-model {}'.format(
                    self.store.path, name, ', '.join(
                        '{} ({} files)'.format(n, c) for _, n, c in stored)
                    or 'none', name))
        self.model_id, self.model_name = matches[0]

    def _use_loaded(self, model):
        self.model = embedder(model, self.gpu)
        identity = embedder_identity(self.model, self.decoder_delay)
        self.model_id = self.store.find_model_id(identity)
        self.model_name = identity.name
        if self.model_id is None:
            raise LibraryStoreError(
                '--db {}: no embeddings by this {} (its weights, settings '
                'or --decoder-delay differ from those stored)'.format(
                    self.store.path, identity.name))

    def _loaded_model(self):
        """The embedding model, loaded on first need; it must be the one
        whose embeddings are stored."""
        if self.model is None:
            model = embedder(self.model_source, self.gpu)
            identity = embedder_identity(model, self.decoder_delay)
            if self.store.find_model_id(identity) != self.model_id:
                raise LibraryStoreError(
                    '--db {}: its embeddings by {} were made with other '
                    'weights, settings or --decoder-delay than {} now '
                    'gives'.format(self.store.path, self.model_name,
                                   self.model_source))
            self.model = model
        return self.model

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def index(self):
        """The :class:`SimilarityIndex`, rebuilt when the store's
        embeddings changed since it was built (never stale).

        The index is also kept beside the database
        (``DB.similarity-MODELID.npz``, written atomically; skipped where
        the folder is read-only, or the store was opened read-only), keyed
        by the database's random token, the model and the embeddings'
        generation, so the next ``similar`` of an unchanged library loads
        it instead of reading every embedding."""
        generation = self.store.generation()
        if self._index is not None and self._index.generation == generation:
            return self._index
        path = '{}.similarity-{}.npz'.format(self.store.path, self.model_id)
        key = (SIMILARITY_INDEX_FORMAT, self.store.token(), self.model_id,
               generation, SIMILARITY_DIMENSIONS)
        index = SimilarityIndex.load(path, key)
        if index is None:
            index = read_index(self.store, self.model_id)
            # The generation read with the rows: the key of what was read.
            key = key[:3] + (index.generation,) + key[4:]
            if not self.store.read_only:
                try:
                    # What a killed similar left half-written there.
                    remove_stale_partials(os.path.dirname(
                        os.path.realpath(path)))
                    with atomic_write(path, 'wb', suffix='.npz') as f:
                        index.save(f, key)
                except OSError:
                    pass  # a read-only folder: rebuilt each time instead
        self._index = index
        return index

    def _named(self, answer):
        paths = self.store.paths(i for i, _ in answer)
        return [{'file_id': i, 'path': os.fsdecode(paths[i]),
                 'similarity': s} for i, s in answer]

    def to_stored(self, file_id, k=SIMILAR_TOP):
        """The ``k`` stored files most similar to the stored file
        ``file_id``, best first, itself left out (also under another name
        it is stored under) and each file once: ``[{'file_id', 'path',
        'similarity'}]``."""
        _check_k(k)
        index = self.index()
        rows = np.flatnonzero(index.file_ids == int(file_id))
        if not len(rows):
            raise InputError('file id {}: no stored embedding by {} in '
                             '{}'.format(file_id, self.model_name,
                                         self.store.path))
        query = os.fsdecode(self.store.paths([int(file_id)])[int(file_id)])
        return self._distinct(index, index.stored_row(rows[0]),
                              int(file_id), query, k)

    def similar(self, paths, k=SIMILAR_TOP):
        """For each of ``paths`` (audio files, in the store or not), the
        ``k`` most similar stored files, best first, the query itself
        left out: ``[{'path': query, 'neighbours': [{'path',
        'similarity', 'file_id'}]}]``; a query that cannot be read or
        embedded gets ``'error'`` instead of ``'neighbours'``.  A file is
        the query, and listed once, whatever name it is stored or asked
        under (symbolic and hard links, a folder tagged under two names).

        A stored file whose embedding is current is not read; a file not
        stored (or changed since) is embedded on the fly, which loads the
        embedding model: a model file's embeddings are stored under its
        base name, so give its path as ``embed_model``."""
        _check_k(k)
        queries, missing = [], []
        for p in paths:
            stored = self._stored_embedding(p)
            file_id = vector = error = None
            try:
                now = identify(p)
            except OSError as e:
                # Reported without loading a model to embed it.
                error = '{}: {}'.format(p, e.strerror or e)
            if stored is not None:
                file_id, identity, blob = stored
                if error is None and same_file(now, identity) and \
                        blob is not None:
                    vector = decode(blob)
            queries.append([str(p), file_id, vector, error])
            if vector is None and error is None:
                missing.append(len(queries) - 1)
        if missing:
            done = self._loaded_model().embed(
                [queries[i][0] for i in missing], self.batch_size,
                self.decoder_delay)
            for i, (vector, error) in zip(missing, done):
                queries[i][2], queries[i][3] = vector, error
        index = self.index()
        out = []
        for path, file_id, vector, error in queries:
            if error is not None:
                out.append({'path': path, 'error': error})
                continue
            row = index.project(np.asarray(vector, np.float32).reshape(
                1, index.dim))
            out.append({'path': path, 'neighbours': [
                {'path': n['path'], 'similarity': n['similarity'],
                 'file_id': n['file_id']}
                for n in self._distinct(index, row, file_id, path, k)]})
        return out

    def _stored_embedding(self, path):
        """:meth:`LibraryStore.stored_embedding` of ``path`` by its
        absolute path (how the store names it), else by its real path: a
        stored file queried through a link to it or to its folder."""
        key = path_key(path)
        stored = self.store.stored_embedding(self.model_id, key)
        real = os.fsencode(os.path.realpath(path))
        if stored is None and real != key:
            stored = self.store.stored_embedding(self.model_id, real)
        return stored

    def _distinct(self, index, row, file_id, query, k):
        """The ``k`` best neighbours of a projected query ``row`` that are
        other files than the query, each file once.

        The store names files by absolute path with links unresolved, so
        the query may be stored under another name (a hard link, a folder
        tagged through a link as well), and so may a neighbour: those
        rows are the same audio at similarity 1.  A name that is the
        query's file is left out, and of the names of one file only the
        best ranked is kept; the search asks for more than ``k`` (again,
        for more, while names were dropped) to still give ``k``."""
        fetch = k + SIMILAR_EXTRA
        while True:
            answer = index.search_projected(row, fetch, [file_id])[0]
            seen, kept = set(_file_keys(query)), []
            for n in self._named(answer):
                keys = _file_keys(n['path'])
                if seen.isdisjoint(keys):
                    kept.append(n)
                    if len(kept) == k:
                        return kept
                seen.update(keys)
            if len(answer) < fetch:
                return kept  # every stored file seen
            fetch *= 4


def _file_keys(path):
    """What says two names are one file: its real path, and its
    ``(st_dev, st_ino)`` when it exists (hard links share it)."""
    keys = [('real', os.path.realpath(path))]
    try:
        st = os.stat(path)
    except OSError:
        return keys
    return keys + [('inode', st.st_dev, st.st_ino)]


def _check_k(k):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise UsageError('k must be a positive integer, not {!r}'.format(k))


def similar(paths, db, k=SIMILAR_TOP, embed_model=None, **options):
    """For each audio file of ``paths`` (stored in the library ``db`` or
    not: an unknown or changed file is embedded on the fly), the ``k``
    most similar stored files; see :meth:`LibrarySimilarity.similar`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    with LibrarySimilarity(db, embed_model, **options) as library:
        return library.similar(list(paths), k)


#: One :class:`LibrarySimilarity` per store and model, kept between calls
#: of :func:`similar_to_stored` (a web page asks again and again); each
#: call checks the store's generation, so none is stale.
_OPEN = {}
_OPEN_LOCK = threading.Lock()


def similar_to_stored(db_path, file_id, k=SIMILAR_TOP, embed_model=None,
                      read_only=False):
    """The ``k`` stored files most similar to a stored one.

    Parameters
    ----------
    db_path : str or path-like
        A library store.
    file_id : int
        The file's ``files.id`` in the store: the primary key of its file
        row (one row per absolute path), as the store's ``results`` and
        ``embeddings`` rows name it (``file_id``).
    k : int
        How many neighbours.
    embed_model : str, optional
        Whose embeddings (default: ``rnn0-msd+mfcc`` when stored, else the most
        stored model's).
    read_only : bool
        Open the store read-only (``mode=ro``, as ``serve`` does): never
        migrated, nothing written (see :class:`LibrarySimilarity`).

    Returns
    -------
    list of dict
        ``{'file_id': int, 'path': str, 'similarity': float}``, best
        first, the file itself left out; similarity is a cosine in
        [-1, 1].  The index is kept in memory between calls and rebuilt
        when the store's embeddings changed.  Thread-safe.
    """
    path = os.fspath(db_path)
    key = (os.path.realpath(path), embed_model, read_only)
    with _OPEN_LOCK:
        library = _OPEN.get(key)
        # A store replaced at the same path (removed and made again, a
        # backup restored) is another file: a connection to the old one
        # would keep answering from it.
        identity = _file_identity(path)
        if library is not None and library.identity != identity:
            del _OPEN[key]
            library.close()
            library = None
        if library is None:
            library = _ThreadSafeLibrary(path, embed_model,
                                         read_only=read_only)
            library.identity = identity
            _OPEN[key] = library
        return library.to_stored(file_id, k)


def _file_identity(path):
    """``(st_dev, st_ino)`` of ``path`` (``None`` if it is not there: the
    store then reports the error)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@atexit.register
def _close_cached():
    """Close the stores :func:`similar_to_stored` keeps open."""
    with _OPEN_LOCK:
        for library in _OPEN.values():
            library.close()
        _OPEN.clear()


class _ThreadSafeLibrary(LibrarySimilarity):
    """A :class:`LibrarySimilarity` whose SQLite connection may be used
    from any thread (calls are serialised by :data:`_OPEN_LOCK`)."""

    threads = True
    #: ``(st_dev, st_ino)`` of the store file it was opened on.
    identity = None


def render(answers, fmt='table'):
    """The text of :meth:`LibrarySimilarity.similar`'s answers.

    ``json``: a list with one object per query, ``{"path": QUERY,
    "neighbours": [{"path": ..., "similarity": ...}, ...]}`` best first
    (``{"path": QUERY, "error": ...}`` for a query that could not be
    embedded); ``csv``: ``query,rank,path,similarity`` rows (rank from 1;
    a failed query has no row); ``table``: each query, then its
    neighbours indented with their similarity.
    """
    if fmt == 'json':
        return json.dumps([
            {'path': a['path'], 'error': a['error']} if 'error' in a else
            {'path': a['path'], 'neighbours': [
                {'path': n['path'], 'similarity': n['similarity']}
                for n in a['neighbours']]}
            for a in answers], indent=1, allow_nan=False) + '\n'
    if fmt == 'csv':
        out = io.StringIO()
        writer = csv.writer(out, lineterminator='\n')
        writer.writerow(['query', 'rank', 'path', 'similarity'])
        for a in answers:
            for rank, n in enumerate(a.get('neighbours', ()), 1):
                writer.writerow([a['path'], rank, n['path'],
                                 '{:.6f}'.format(n['similarity'])])
        return out.getvalue()
    if fmt != 'table':
        raise UsageError('format must be table, json or csv, not '
                         '{!r}'.format(fmt))
    lines = []
    for a in answers:
        lines.append(a['path'])
        if 'error' in a:
            lines.append('  error: {}'.format(a['error']))
        for n in a.get('neighbours', ()):
            lines.append('  {:6.3f}  {}'.format(n['similarity'], n['path']))
        if not a.get('neighbours') and 'error' not in a:
            lines.append('  (no other stored file)')
    return '\n'.join(lines) + '\n'
