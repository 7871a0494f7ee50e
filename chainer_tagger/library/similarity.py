""""More like this": the stored files that sound most like a given one.

A library run with an embedding model (``tag --db``, see
:mod:`~chainer_tagger.library.runner`) stores each file's embedding.  The
similarity of two files is the cosine of their embeddings once
*standardised* (each dimension centred and scaled by its mean and standard
deviation over the stored library) and projected on the library's first
:data:`~chainer_tagger.configuration.SIMILARITY_DIMENSIONS` principal
axes.  Both were chosen by measurement: on gtzan-mini, standardising then
taking the cosine gives cnn-msd's features their best leave-one-out genre
precision@5, and the projection leaves it where it was while making exact
search of a million tracks a 32-column matrix product
(``benchmarks/similarity_quality.py``, ``benchmarks/similarity_scale.py``;
docs/guide/similar.rst).

The search is exact (no approximate index, so nothing to tune and recall
1 against exact search in that space).  The :class:`SimilarityIndex` is
built from a snapshot of the store together with the store's
``embeddings`` generation, a counter every change of the embeddings
raises in its own transaction; :class:`LibrarySimilarity` compares it with
the store's at every query and rebuilds when they differ, so an answer is
never older than the store.

Files are named by the store's ``files.id`` (the primary key of a file
row: one per absolute path, see
:func:`~chainer_tagger.library.file_identity.path_key`), as
:func:`similar_to_stored` takes and returns them.
"""
import os
import threading

import numpy as np
from scipy.linalg import blas

from chainer_tagger.configuration import (DEFAULT_EMBED_MODEL,
                                          SIMILAR_TOP, SIMILARITY_DIMENSIONS,
                                          SIMILARITY_PCA_SAMPLE)
from chainer_tagger.errors import InputError, LibraryStoreError, UsageError
from chainer_tagger.inference.embedding import embed_files
from chainer_tagger.library.file_identity import identify, path_key, \
    same_file
from chainer_tagger.library.runner import embedding_model, model_identity
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
    """

    def __init__(self, file_ids, vectors, dimensions=SIMILARITY_DIMENSIONS,
                 generation=None):
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(file_ids):
            raise ValueError('one vector per file id is needed')
        self.file_ids = np.asarray(file_ids, np.int64)
        self.generation = generation
        self.dim = vectors.shape[1]
        self.mean, self.scale, self.axes = _fit(vectors, dimensions)
        self.matrix = self._unit_rows(vectors)

    def __len__(self):
        return len(self.file_ids)

    def _unit_rows(self, vectors, chunk=65536):
        """Standardised, projected, L2-normalised float32 rows (in chunks,
        so a million stored vectors need no float64 copy)."""
        out = np.empty((len(vectors), self.axes.shape[1]), np.float32)
        for start in range(0, len(vectors), chunk):
            z = (vectors[start:start + chunk] - self.mean) / self.scale
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
        its own ``matrix`` rows)."""
        exclude = list(exclude) or [None] * len(q)
        answers = []
        for row, skip in zip(q, exclude):
            scores = _scores(self.matrix, row)
            want = min(k + (skip is not None), len(scores))
            if want <= 0:
                answers.append([])
                continue
            top = np.argpartition(-scores, want - 1)[:want] \
                if want < len(scores) else np.arange(len(scores))
            top = top[np.lexsort((self.file_ids[top], -scores[top]))]
            answer = [(int(self.file_ids[i]), float(scores[i])) for i in top
                      if self.file_ids[i] != skip]
            answers.append(answer[:k])
        return answers


def _fit(vectors, dimensions):
    """``(mean, scale, axes)``: the library's mean and standard deviation
    per dimension (a constant dimension scaled by 1), and its first
    principal axes ``(d, r)`` after standardising, from an evenly spaced
    sample of at most
    :data:`~chainer_tagger.configuration.SIMILARITY_PCA_SAMPLE` rows."""
    n, d = vectors.shape
    if n == 0:
        return (np.zeros(d, np.float32), np.ones(d, np.float32),
                np.eye(d, dtype=np.float32)[:, :0])
    mean = np.zeros(d)
    square = np.zeros(d)
    for start in range(0, n, 65536):
        part = vectors[start:start + 65536].astype(np.float64)
        mean += part.sum(axis=0)
        square += (part * part).sum(axis=0)
    mean /= n
    std = np.sqrt(np.maximum(square / n - mean * mean, 0.0))
    scale = np.where(std > 1e-6 * max(float(std.max()), 1e-30), std, 1.0)
    sample = vectors[::max(1, -(-n // SIMILARITY_PCA_SAMPLE))]
    z = (sample.astype(np.float64) - mean) / scale
    r = min(dimensions, d, len(sample))
    # The rows of vt are the principal axes: an orthonormal basis of the
    # sample's span, largest variance first.
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return (mean.astype(np.float32), scale.astype(np.float32),
            np.ascontiguousarray(vt[:r].T, np.float32))


def _scores(matrix, row):
    """``matrix @ row`` through BLAS's sgemv (NumPy's bundled OpenBLAS
    runs older kernels; see ``functions.gemm``)."""
    if len(matrix) == 0:
        return np.zeros(0, np.float32)
    return blas.sgemv(1.0, matrix.T, row, trans=1)


def decode(vector):
    """A stored vector's bytes as a float32 array."""
    return np.frombuffer(vector, '<f4')


def read_index(store, model_id, dimensions=SIMILARITY_DIMENSIONS):
    """A :class:`SimilarityIndex` of a model's embeddings in ``store``, at
    the store's current generation."""
    with store.embedding_snapshot(model_id) as (generation, count, rows):
        file_ids = np.empty(count, np.int64)
        vectors = None
        for i, (file_id, vector) in enumerate(rows):
            v = decode(vector)
            if vectors is None:
                vectors = np.empty((count, len(v)), np.float32)
            file_ids[i] = file_id
            vectors[i] = v
    if vectors is None:
        vectors = np.zeros((0, 0), np.float32)
    return SimilarityIndex(file_ids, vectors, dimensions, generation)


class LibrarySimilarity:
    """Similar files in a library store; use it as a context manager.

    Parameters
    ----------
    db : str or path-like
        A library store (it must exist; it is migrated if older, as any
        open does).
    embed_model : str or model, optional
        The embedding model: a registry name or model file (matched with
        the store's embeddings by name, or by full identity once it has
        to be loaded), or a loaded model.  Default: ``cnn-msd``
        (:data:`~chainer_tagger.configuration.DEFAULT_EMBED_MODEL`) when
        the store holds its embeddings, else the model with the most.
    gpu, batch_size, decoder_delay
        For files embedded on the fly (not in the store, or changed).
    """

    #: Whether the store's connection may be used from other threads
    #: than the one that opened it (callers then serialise the calls).
    threads = False

    def __init__(self, db, embed_model=None, gpu=None, batch_size=8,
                 decoder_delay='remove'):
        if existing_version(db) is None:
            raise LibraryStoreError('--db {}: no library store there; make '
                                    'one with tag --db'.format(
                                        os.fspath(db)))
        self.store = LibraryStore(db, threads=self.threads)
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
        self.model = embedding_model(model, self.gpu)
        identity = model_identity(self.model,
                                  decoder_delay=self.decoder_delay)
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
            model = embedding_model(self.model_source, self.gpu)
            identity = model_identity(model,
                                      decoder_delay=self.decoder_delay)
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
        embeddings changed since it was built (never stale)."""
        if self._index is None or \
                self._index.generation != self.store.generation():
            self._index = read_index(self.store, self.model_id)
        return self._index

    def _named(self, answer):
        paths = self.store.paths(i for i, _ in answer)
        return [{'file_id': i, 'path': os.fsdecode(paths[i]),
                 'similarity': s} for i, s in answer]

    def to_stored(self, file_id, k=SIMILAR_TOP):
        """The ``k`` stored files most similar to the stored file
        ``file_id``, best first, itself left out: ``[{'file_id', 'path',
        'similarity'}]``."""
        _check_k(k)
        index = self.index()
        rows = np.flatnonzero(index.file_ids == int(file_id))
        if not len(rows):
            raise InputError('file id {}: no stored embedding by {} in '
                             '{}'.format(file_id, self.model_name,
                                         self.store.path))
        return self._named(index.search_projected(
            index.matrix[rows[:1]], k, [int(file_id)])[0])

    def similar(self, paths, k=SIMILAR_TOP):
        """For each of ``paths`` (audio files, in the store or not), the
        ``k`` most similar stored files, best first, the query itself
        left out: ``[{'path': query, 'neighbours': [{'path',
        'similarity', 'file_id'}]}]``; a query that cannot be embedded
        gets ``'error'`` instead of ``'neighbours'``."""
        _check_k(k)
        queries, missing = [], []
        for p in paths:
            key = path_key(p)
            stored = self.store.stored_embedding(self.model_id, key)
            file_id = vector = None
            if stored is not None:
                file_id, identity, blob = stored
                try:
                    current = same_file(identify(p), identity)
                except OSError:
                    current = False
                if current and blob is not None:
                    vector = decode(blob)
            queries.append([str(p), file_id, vector, None])
            if vector is None:
                missing.append(len(queries) - 1)
        if missing:
            features, found = embed_files(
                self._loaded_model(), [queries[i][0] for i in missing],
                window='centre', batch_size=self.batch_size,
                decoder_delay=self.decoder_delay)
            rows = {e['path']: e for e in found}
            for i in missing:
                entry = rows[queries[i][0]]
                if 'error' in entry:
                    queries[i][3] = entry['error']
                else:
                    queries[i][2] = features[entry['row']]
        index = self.index()
        good = [q for q in queries if q[3] is None]
        answers = index.search(
            np.array([q[2] for q in good], np.float32).reshape(
                len(good), index.dim), k, [q[1] for q in good]) \
            if good else []
        answers = iter(answers)
        out = []
        for path, _, _, error in queries:
            if error is not None:
                out.append({'path': path, 'error': error})
            else:
                out.append({'path': path, 'neighbours': [
                    {'path': n['path'], 'similarity': n['similarity'],
                     'file_id': n['file_id']}
                    for n in self._named(next(answers))]})
        return out


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


def similar_to_stored(db_path, file_id, k=SIMILAR_TOP, embed_model=None):
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
        Whose embeddings (default: ``cnn-msd`` when stored, else the most
        stored model's).

    Returns
    -------
    list of dict
        ``{'file_id': int, 'path': str, 'similarity': float}``, best
        first, the file itself left out; similarity is a cosine in
        [-1, 1].  The index is kept in memory between calls and rebuilt
        when the store's embeddings changed.  Thread-safe.
    """
    key = (os.path.realpath(os.fspath(db_path)), embed_model)
    with _OPEN_LOCK:
        library = _OPEN.get(key)
        if library is None:
            library = _OPEN[key] = _ThreadSafeLibrary(
                os.fspath(db_path), embed_model)
        return library.to_stored(file_id, k)


class _ThreadSafeLibrary(LibrarySimilarity):
    """A :class:`LibrarySimilarity` whose SQLite connection may be used
    from any thread (calls are serialised by :data:`_OPEN_LOCK`)."""

    threads = True
