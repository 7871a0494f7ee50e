"""Tagging a whole music library: resumable, on several processes or
machines, with the tags written into the files.

A run (:class:`LibraryRun`) goes:

1. **files**: the paths are expanded (folders scanned) once, by rank 0;
2. **identities**: each file's size and mtime (and sha256 with
   ``rehash``) are read, each process reading its share;
3. **what is left**: a file whose stored entry (see
   :mod:`~chainer_tagger.library.store`) is current for this model is
   reused; the others (new, changed, and with ``retry_errors`` failed
   ones) are tagged;
4. **tagging**: the files left are dealt round-robin to the processes
   (deterministic: the same library and store give the same shares); each
   tags its share batch by batch (:func:`~chainer_tagger.inference.
   tagging.iter_results`, the same pipeline as plain tagging) and sends
   each batch's results to rank 0, which commits it to the store as it
   arrives: the database has one writer, rank 0, so it never sits on a
   network file system under several writers;
5. **embeddings** (with ``embed_model`` and a store): the files whose
   stored embedding is not current for the embedding model are embedded
   (the centre window; see :mod:`~chainer_tagger.library.embedders`),
   for "more like this" (:mod:`~chainer_tagger.library.similarity`).
   A file tagged in this run is embedded from the same read (the file
   opened once and its decoded audio shared: an MP3 up to ten minutes is
   decoded once, other formats are read for the window and then whole
   for the MFCCs; the embedding model's forward pass batched like the
   tagger's) and committed with its result; the rest (files whose tags
   were current, or that the tagger could not read) are then shared and
   committed the same way;
6. **results**: rank 0 reads every file's result (reused or new) in the
   order a plain run gives, and can write the tags into the files
   (:mod:`~chainer_tagger.library.file_tags`).

Without a store (``db=None``) the same run keeps the results in memory.
Under MPI each process takes the GPU of its intra-node rank when a GPU is
asked for, as training does.
"""
import collections
import hashlib
import os
import stat
import sys
import time

import numpy as np

import chainer
from tqdm import tqdm

from chainer_tagger.atomic_file import remove_stale_partials
from chainer_tagger.audio import expand_paths
from chainer_tagger.configuration import DEFAULT_EMBED_MODEL, FILE_TAGS_TOP
from chainer_tagger.errors import LibraryStoreError, UsageError
from chainer_tagger.inference.report import printable
from chainer_tagger.inference.tagging import (check_options, iter_results,
                                              model_name, prepare_model)
from chainer_tagger.library import file_tags
from chainer_tagger.library.embedders import embedder
from chainer_tagger.library.file_identity import (identify, path_key,
                                                  same_file)
from chainer_tagger.library.store import LibraryStore, ModelIdentity

#: MPI message tags: a batch of results, and a process's last message.
RESULTS_MESSAGE, DONE_MESSAGE = 1, 2

#: What a run did: ``files`` (distinct files), ``reused`` (from the
#: store), ``tagged`` (in this run: by every process on rank 0, by itself
#: on another rank), ``tagged_here`` (by this process), ``failed``
#: (errors among the results, reused or new), ``seconds`` (the run's wall
#: time), ``store_seconds`` (of it, writing the store), ``rank`` and
#: ``processes``; ``embedded`` (files embedded in this run, counted like
#: ``tagged``).
LibrarySummary = collections.namedtuple(
    'LibrarySummary', 'files reused tagged tagged_here failed seconds '
                      'store_seconds rank processes embedded',
    defaults=(0,))


class SingleProcess:
    """The one process of a run without MPI, with the few methods of an
    mpi4py communicator the run uses."""

    rank = 0
    size = 1

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]


def create_communicator():
    """ChainerMN's communicator over ``MPI.COMM_WORLD`` (as training
    uses); its ``intra_rank`` picks a process's GPU."""
    try:
        import chainermn
        return chainermn.create_communicator('naive')
    except ImportError as e:
        raise UsageError('--distributed needs mpi4py and an MPI library '
                         '(the [distributed] extra; Debian: openmpi-bin): '
                         '{}'.format(e)) from None


def parameters_sha256(model):
    """sha256 of every array of a model (parameters and statistics, by
    name): what identifies the weights of a model built in memory rather
    than loaded from a file."""
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(model)
    digest = hashlib.sha256()
    for name in sorted(serializer.target):
        array = chainer.backends.cuda.to_cpu(serializer.target[name])
        digest.update(name.encode('utf-8'))
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def model_identity(model, window='centre', hop=None, aggregate=None,
                   decoder_delay='remove'):
    """What identifies a model's results in a store: its name (a model
    file's base name), the sha256 of its weights, its settings (what
    rebuilds it: tags, BN mode, Keras preset, per-clip; and the float type
    it runs in) and how its inputs are made (the window, with ``hop`` and
    ``aggregate`` resolved to what is used, and the MP3 decoder delay)."""
    if window == 'full':
        inputs = {'window': 'full',
                  'hop': float(hop or model.clip_input.seconds),
                  'aggregate': aggregate or 'mean'}
    else:
        inputs = {'window': 'centre'}
    inputs['decoder_delay'] = decoder_delay
    settings = dict(model.settings,
                    precision=str(next(model.params()).dtype))
    return ModelIdentity(os.path.basename(model_name(model)),
                         model.weights_sha256 or parameters_sha256(model),
                         settings, inputs)


def embedder_identity(embedder, decoder_delay='remove'):
    """What keys an embedder's vectors in a store: its model's
    :func:`model_identity` (centre window), as the embedder extends it."""
    return embedder.identity(model_identity(embedder.model,
                                            decoder_delay=decoder_delay))


def _identity_or_none(path, with_hash):
    """The identity of a regular file, or None (reported by tagging, which
    fails the same way): a pipe, socket or device is never opened (its
    sha256 would wait, or read, forever), nor stored."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return identify(path, with_hash)
    except OSError:
        return None


class LibraryRun:
    """One run over a library; use it as a context manager.

    Parameters
    ----------
    paths : list of str or path-like
        Files and folders, as for :func:`~chainer_tagger.inference.tag`.
    model : str or model
        A registry name, a model file, or a loaded model.
    db : str or path-like, optional
        The library store (SQLite); created when missing.  Without it the
        run keeps its results in memory.
    batch_size, gpu, window, hop, aggregate, per_clip, workers, keras, \
precision, decoder_delay
        As for :func:`~chainer_tagger.inference.tag`.  A model whose
        scores depend on their batch mates (Keras BN mode 2) runs with
        ``per_clip`` or a batch of 1 only: a stored result must not depend
        on which files happened to share its batch.
    rehash : bool
        Add each file's sha256 to its identity (reads every file).  Stored
        entries without one whose size and mtime match get it recorded.
    retry_errors : bool
        Tag again the files whose stored result is an error.
    distributed : bool
        Run over the MPI processes (under ``mpiexec``).
    progress : bool
        One progress bar for the whole library on stderr (rank 0): files,
        files/s, ETA, and the counts of reused, tagged and failed files.
    embed_model : str or model, optional
        With ``db``: also store each file's embedding by this model (a
        registry name or model file, ``NAME+mfcc`` fused with MFCCs such
        as :data:`~chainer_tagger.configuration.DEFAULT_EMBED_MODEL`, or a
        loaded model; see :mod:`~chainer_tagger.library.embedders`), keyed
        and resumed like the results, for
        :mod:`~chainer_tagger.library.similarity`.
        ``'default'`` names the default; None (the default here; the
        command line's ``tag --db`` embeds unless ``--embed-model none``)
        stores none.
    """

    def __init__(self, paths, model='crnn-msd', db=None, batch_size=16,
                 gpu=None, window='centre', hop=None, aggregate=None,
                 per_clip=False, workers=None, keras=None,
                 precision='float32', decoder_delay='remove', rehash=False,
                 retry_errors=False, distributed=False, progress=False,
                 embed_model=None):
        check_options(batch_size, window, hop, aggregate)
        if embed_model == 'default':
            embed_model = DEFAULT_EMBED_MODEL
        if embed_model is not None and db is None:
            raise UsageError('an embedding model (--embed-model) applies '
                             'to a library store (--db) only')
        if db is None and (rehash or retry_errors):
            raise UsageError('--rehash and --retry-errors apply to a '
                             'library store (--db) only')
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = list(paths)
        self.batch_size, self.workers = batch_size, workers
        self.window, self.hop, self.aggregate = window, hop, aggregate
        self.decoder_delay = decoder_delay
        self.rehash, self.retry_errors = rehash, retry_errors
        self.progress = progress
        self.comm = create_communicator() if distributed else None
        self.mpi = SingleProcess() if self.comm is None else \
            self.comm.mpi_comm
        if self.comm is not None and gpu is not None and gpu >= 0:
            gpu = self.comm.intra_rank
        self.store = None
        self.files, self.keys, self.unique = [], [], []
        self.held, self.identities = {}, {}
        self.reused = self.tagged = self.failed = self.received = 0
        self.embedded = 0
        #: Files embedded (or failed) from the tagger's read in this run.
        self.embedded_with_tags = set()
        self.embedder = None
        self.store_seconds = 0.0
        with self._stop_all_on_error():
            problem = None
            if self.is_root and db is not None:
                try:
                    self.store = LibraryStore(db)
                except LibraryStoreError as e:
                    problem = str(e)
            # Every process stops on the same one-line error.
            problem = self.mpi.bcast(problem, root=0)
            if problem is not None:
                raise LibraryStoreError(problem)
            self.model = prepare_model(model, per_clip, gpu, keras,
                                       precision)
            if self.model.batch_dependent and batch_size > 1:
                raise UsageError(
                    '{} normalises over each batch (Keras BN mode 2): a '
                    "stored result would depend on which files shared its "
                    'batch; use --per-clip (per_clip=True) or --batch-size '
                    '1'.format(model_name(self.model)))
            self.identity = model_identity(self.model, window, hop,
                                           aggregate, decoder_delay)
            if self.store is not None:
                self.model_id = self.store.model_id(self.identity)
            if embed_model is not None:
                self.embedder = embedder(embed_model, gpu)
                self.embed_identity = embedder_identity(self.embedder,
                                                        decoder_delay)
                if self.store is not None:
                    self.embed_model_id = self.store.model_id(
                        self.embed_identity)

    @property
    def is_root(self):
        """Whether this process holds the store and the results (rank 0,
        or the only process)."""
        return self.mpi.rank == 0

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _stop_all_on_error(self):
        return _StopAllOnError(self.mpi)

    # --- tagging ----------------------------------------------------------

    def tag(self):
        """Tag what is not current in the store; returns a
        :class:`LibrarySummary`."""
        start = time.perf_counter()
        with self._stop_all_on_error():
            files = self.mpi.bcast(expand_paths(self.paths)
                                   if self.is_root else None, root=0)
            self.files = files
            self.keys = [path_key(p) for p in files]
            first = {}
            for i, key in enumerate(self.keys):
                first.setdefault(key, i)
            self.first = first
            self.unique = sorted(first.values())
            rank, size = self.mpi.rank, self.mpi.size
            mine = {i: _identity_or_none(files[i], self.rehash)
                    for i in self.unique[rank::size]}
            gathered = self.mpi.gather(mine, root=0)
            pending = wanted = None
            if self.is_root:
                for part in gathered:
                    self.identities.update(part)
                pending = self._pending()
                if self.embedder is not None and self.window == 'centre':
                    wanted = set(self._pending_embeddings())
            pending, wanted = self.mpi.bcast((pending, wanted), root=0)
            share = pending[rank::size]
            if self.is_root:
                self._tag_as_root(share, wanted)
            else:
                self._tag_as_worker(share, wanted)
            if self.embedder is not None:
                self._embed()
        return LibrarySummary(len(self.unique), self.reused, self.tagged,
                              self.tagged - self.received, self.failed,
                              time.perf_counter() - start,
                              self.store_seconds, rank, size, self.embedded)

    def _pending(self):
        """The files to tag (indices), in order; counts the reused ones
        and records the sha256 of reused entries stored without one."""
        entries = {} if self.store is None else \
            self.store.entries(self.model_id)
        pending, hashes = [], []
        for i in self.unique:
            now, entry = self.identities[i], entries.get(self.keys[i])
            if now is None or entry is None or \
                    not same_file(now, entry.identity) or \
                    (entry.failed and self.retry_errors):
                pending.append(i)
                continue
            self.reused += 1
            self.failed += entry.failed
            if now.sha256 is not None and entry.identity.sha256 is None:
                hashes.append((self.keys[i], now.sha256))
        if hashes:
            self.store.record_hashes(self.model_id, hashes)
        return pending

    def _results_of(self, share, wanted=None):
        """``(indices, results, embeddings)`` of each batch of this
        process's share: ``embeddings`` the ``(index, vector)`` pairs (see
        :meth:`_embeddings_of`) of the files in ``wanted`` (indices to
        embed from the same read; None: none)."""
        indices = iter(share)
        files = [self.files[i] for i in share]
        wanted = {os.fspath(self.files[i]) for i in share
                  if i in (wanted or ())}
        if not wanted:
            for done in iter_results(self.model, files, self.batch_size,
                                     self.workers, self.window, self.hop,
                                     self.aggregate, self.decoder_delay):
                yield [next(indices) for _ in done], done, []
            return
        # The tagger's input serves the embedding model when they take the
        # same (crnn-msd and rnn0-msd both take Choi's melgram).
        same = self.embedder.model.clip_input == self.model.clip_input

        def also(opened, x):
            if os.fspath(opened.path) in wanted:
                return self.embedder.read(opened, x if same else None)
            return None

        for done, values in iter_results(
                self.model, files, self.batch_size, self.workers,
                self.window, self.hop, self.aggregate, self.decoder_delay,
                also=also):
            batch = [next(indices) for _ in done]
            # A file the tagger could not read is left to the embedding
            # pass: the embedding model may read what the tagger cannot
            # (a melgram .npy for a waveform tagger).
            read = [(i, v) for i, v in zip(batch, values)
                    if v is not None and not isinstance(v, Exception)]
            vectors = self.embedder.vectors([v for _, v in read]) \
                if read else []
            yield batch, done, [(i, _vector_bytes(v)) for (i, _), (v, _)
                                in zip(read, vectors)]

    def _tag_as_root(self, share, wanted=None):
        self.bar = tqdm(total=len(self.unique), initial=self.reused,
                        unit='file', desc='library', disable=not self.progress,
                        dynamic_ncols=True)
        self._show_counts()
        try:
            self._gather_as_root(self._results_of(share, wanted),
                                 self._keep)
        finally:
            self.bar.close()

    def _gather_as_root(self, batches, keep):
        """Keep this process's batches and those the others send, each as
        it comes, until every process said it is done."""
        waiting = self.mpi.size - 1
        for batch in batches:
            keep(*batch)
            if waiting:
                waiting -= self._receive(keep, block=False)
        while waiting:
            waiting -= self._receive(keep, block=True)

    def _tag_as_worker(self, share, wanted=None):
        def counted(batches):
            for indices, done, embeddings in batches:
                self.tagged += len(done)
                self.failed += sum('error' in r for r in done)
                self.embedded += len(embeddings)
                yield indices, done, embeddings
        self._send_to_root(counted(self._results_of(share, wanted)))

    def _send_to_root(self, batches):
        """Send each batch to rank 0 as it is done, then say so."""
        sending = []
        for batch in batches:
            sending.append(self.mpi.isend(batch, dest=0,
                                          tag=RESULTS_MESSAGE))
            sending = [r for r in sending if not r.Test()]
        for request in sending:
            request.Wait()
        self.mpi.send(None, dest=0, tag=DONE_MESSAGE)

    # --- embeddings -------------------------------------------------------

    def _embed(self):
        """Embed the files whose stored embedding is not current, shared
        among the processes as tagging is; rank 0 commits each batch."""
        pending = None
        if self.is_root:  # not those embedded (or failed) with their tags
            pending = [i for i in self._pending_embeddings()
                       if i not in self.embedded_with_tags]
        pending = self.mpi.bcast(pending, root=0)
        if not pending:
            return
        share = pending[self.mpi.rank::self.mpi.size]
        if not self.is_root:
            def counted(batches):
                for indices, vectors in batches:
                    self.embedded += len(vectors)
                    yield indices, vectors
            self._send_to_root(counted(self._embeddings_of(share)))
            return
        with tqdm(total=len(pending), unit='file', desc='embedding',
                  disable=not self.progress, dynamic_ncols=True) as bar:
            def keep(indices, vectors):
                self._keep_embeddings(indices, vectors)
                bar.update(len(vectors))
            self._gather_as_root(self._embeddings_of(share), keep)

    def _pending_embeddings(self):
        """The files to embed (indices), in order: those with a readable
        identity whose stored embedding is missing or not current (or
        failed, with ``retry_errors``)."""
        entries = self.store.embedding_entries(self.embed_model_id)
        pending = []
        for i in self.unique:
            now, entry = self.identities[i], entries.get(self.keys[i])
            if now is None:
                continue  # nothing to key it by (and tagging failed too)
            if entry is None or not same_file(now, entry.identity) or \
                    (entry.failed and self.retry_errors):
                pending.append(i)
        return pending

    def _embeddings_of(self, share):
        """``(indices, vectors)`` per batch of this process's share: each
        vector the little-endian float32 bytes of a file's embedding, or
        None when the file could not be embedded."""
        batches = self.embedder.embed_batches(
            [self.files[i] for i in share], self.batch_size,
            self.decoder_delay, self.workers)
        # The batches first: zip then exhausts the generator, which shuts
        # its read-ahead threads down.
        for done, start in zip(batches, range(0, len(share),
                                              self.batch_size)):
            indices = share[start:start + self.batch_size]
            yield indices, [_vector_bytes(v) for v, _ in done]

    def _keep_embeddings(self, indices, vectors):
        """Commit one batch of embeddings (one transaction)."""
        t = time.perf_counter()
        self.store.put_embeddings(self.embed_model_id, [
            (self.keys[i], self.identities[i], v)
            for i, v in zip(indices, vectors)])
        self.store_seconds += time.perf_counter() - t
        self.embedded += len(vectors)

    def _receive(self, keep, block):
        """Keep the batches other processes sent; with ``block``, wait for
        one message first.  Returns how many processes said they are
        done."""
        from mpi4py import MPI
        done = 0
        while block or self.mpi.iprobe(source=MPI.ANY_SOURCE,
                                       tag=MPI.ANY_TAG):
            block = False
            status = MPI.Status()
            message = self.mpi.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG,
                                    status=status)
            if status.Get_tag() == DONE_MESSAGE:
                done += 1
            else:
                keep(*message)
                if keep == self._keep:
                    self.received += len(message[1])
        return done

    def _keep(self, indices, results, embeddings=()):
        """Commit one batch to the store (one transaction), or hold it
        when there is no store or a file's identity could not be read;
        then its ``(index, vector)`` embeddings."""
        rows = []
        for i, r in zip(indices, results):
            now = self.identities[i]
            if self.store is not None and now is not None:
                rows.append((self.keys[i], now, r))
            else:
                self.held[i] = r
            self.tagged += 1
            self.failed += 'error' in r
        if rows:
            t = time.perf_counter()
            self.store.put(self.model_id, rows)
            self.store_seconds += time.perf_counter() - t
        if embeddings:
            indices = [i for i, _ in embeddings]
            self.embedded_with_tags.update(indices)
            self._keep_embeddings(indices, [v for _, v in embeddings])
        self._show_counts()
        self.bar.update(len(results))

    def _show_counts(self):
        self.bar.set_postfix_str('reused {}, tagged {}, failed {}'.format(
            self.reused, self.tagged, self.failed), refresh=False)

    # --- results ----------------------------------------------------------

    def _result(self, i):
        r = self.held.get(i)
        if r is None:
            r = self.store.result(self.model_id, self.keys[i])
        return r

    def results(self):
        """Every file's result (rank 0), reused or new, in the order of a
        plain run (duplicates included), each exactly as a plain run makes
        it: its path as given in this run, and this run's model name."""
        name = model_name(self.model)
        for i, p in enumerate(self.files):
            r = dict(self._result(self.first[self.keys[i]]))
            r['path'] = str(p)
            r['model'] = name
            yield r

    def write_tags(self, k=None, genre=False, dry_run=False):
        """Write each tagged file's ``k`` best tags (default
        :data:`~chainer_tagger.configuration.FILE_TAGS_TOP`) into its
        metadata (rank 0), and with ``genre`` the best tag into its genre
        field; yields a :class:`~chainer_tagger.library.file_tags.
        TagOutcome` per file.

        A file whose stored identity no longer matches it is not touched.
        A file written gets its new identity in the store (for every
        model whose entry matched), so the next run does not tag it again.
        Copies left by a run killed while it wrote tags (``.partial-*``,
        hidden from scans) are removed from the folders written into.
        """
        field = file_tags.field_name(model_name(self.model))
        entries = {} if self.store is None else \
            self.store.entries(self.model_id)
        folders = set()
        with tqdm(self.unique, unit='file', desc='writing tags',
                  disable=not self.progress, dynamic_ncols=True) as bar:
            for i in bar:
                r = self._result(i)
                if 'error' in r:
                    continue
                folder = os.path.dirname(os.path.realpath(self.files[i]))
                if not dry_run and folder not in folders:
                    folders.add(folder)
                    remove_stale_partials(folder)
                entry = entries.get(self.keys[i])
                expected = self.identities[i] if entry is None else \
                    entry.identity
                out = file_tags.write_tags(
                    self.files[i], field,
                    file_tags.tag_values(r, k or FILE_TAGS_TOP),
                    r['tags'][0]['tag'] if genre else None, expected,
                    dry_run)
                if out.status == 'written' and self.store is not None:
                    self.store.move(self.keys[i], expected, out.identity)
                yield out


def _vector_bytes(vector):
    """How the store keeps an embedding: little-endian float32 bytes, or
    None for a file that could not be embedded."""
    return None if vector is None else np.asarray(vector, '<f4').tobytes()


class _StopAllOnError:
    """Under MPI, an error in one process would leave the others waiting
    for it forever: it is printed and the whole job aborted (exit status
    2), as ``python -m mpi4py`` does.  Errors every process raises alike
    (a refused store) are raised normally."""

    def __init__(self, mpi):
        self.mpi = mpi

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None or self.mpi.size == 1 or \
                isinstance(value, (LibraryStoreError, UsageError)):
            return False
        print('error: process {} of {}: {}: {}'.format(
            self.mpi.rank, self.mpi.size, kind.__name__, printable(value)),
            file=sys.stderr, flush=True)
        self.mpi.Abort(2)
        return False


def tag_library(paths, model='crnn-msd', db=None, **options):
    """Tag a library; every file's result, in order (see
    :class:`LibraryRun` for the options).  With ``db``, files whose stored
    result is current are not tagged again."""
    with LibraryRun(paths, model, db, **options) as run:
        run.tag()
        return list(run.results()) if run.is_root else []
