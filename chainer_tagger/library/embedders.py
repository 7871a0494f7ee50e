"""What a library run stores as a file's embedding, for "more like this".

An *embedder* turns audio files into one vector each.  Two kinds:

* :class:`ModelEmbedder`: a model's features (``extract``) of the file's
  centre window, for any model (``--embed-model crnn-msd``, a model
  file, ``soundnet8``...);
* :class:`FusedEmbedder` (``NAME+mfcc``, the default ``rnn0-msd+mfcc``):
  those features followed by the mean and standard deviation over the
  file of its MFCCs (timbre over the whole track).  Its identity carries
  the two blocks' sizes, so the similarity index weighs each block alike
  (each standardised dimension divided by the square root of its block's
  size): on gtzan-mini these fusions are the only candidates measured
  whose margin over the MFCC baseline survives the spread, and
  ``rnn0-msd``'s the best of them
  (``benchmarks/similarity_quality.py``).

An embedder gives :meth:`~ModelEmbedder.embed` (vectors or errors per
file) and :meth:`~ModelEmbedder.identity` (what keys its embeddings in the
store, from the model's own identity), and says ``blocks``.  A library run
that tags and embeds the same files opens each file once:
:meth:`~ModelEmbedder.read` takes what the tagger opened (the decoded
audio: an MP3 is decoded once; and the tagger's input when the two models
take the same one) on the reading threads, and
:meth:`~ModelEmbedder.vectors` runs the model over a batch of them.
"""
import collections
import os

import librosa
import numpy as np

from chainer_tagger.audio import open_input
from chainer_tagger.audio.inputs import guarded
from chainer_tagger.audio.resample import resample
from chainer_tagger.configuration import FUSED_SUFFIX, SIMILARITY_MFCC
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError
from chainer_tagger.inference.prefetch import prefetch
from chainer_tagger.inference.tagging import default_workers
from chainer_tagger.models import load_model

#: What an embedder read of one file (:meth:`ModelEmbedder.read`): its
#: ``path``, the model input of its centre window ``x``, what else the
#: vector takes (``extra``: the MFCC summary of a fused embedder) and,
#: for a file that could not be read, ``error`` (the rest None).
EmbeddingInput = collections.namedtuple('EmbeddingInput',
                                        'path x extra error')


class ModelEmbedder:
    """A model's features of each file's centre window."""

    def __init__(self, model):
        self.model = model

    @property
    def blocks(self):
        """Sizes of the parts of a vector that weigh alike (None: one)."""
        return None

    def identity(self, model_identity):
        """What keys this embedder's vectors in a store, given its model's
        ``ModelIdentity`` (``library.store``)."""
        return model_identity

    def read(self, opened, x=None):
        """What one file's vector needs, read from the file as another
        model opened it, without decoding it again.

        Parameters
        ----------
        opened : FileInput
            The file opened for any model
            (``chainer_tagger.audio.open_input``).
        x : np.ndarray, optional
            The model input of its centre window for this embedder's
            model, when already read (the tagger takes the same input).

        Returns
        -------
        EmbeddingInput
            A file that cannot be read gives its error, not an exception.
        """
        try:
            if x is None:
                x = self._reopen(opened).windows[0].read()[0]
            return EmbeddingInput(opened.path, x, guarded(
                opened.path, self._extra, opened), None)
        except InputError as e:
            return EmbeddingInput(opened.path, None, None, str(e))

    def _reopen(self, opened):
        """The file as this embedder's model takes it, from the audio
        ``opened`` decoded (a melgram ``.npy`` is opened again)."""
        source = opened.source
        return open_input(opened.path, self.model.clip_input,
                          decoder_delay=getattr(source, 'decoder_delay',
                                                'remove'),
                          source=source)

    def _extra(self, opened):
        """What the vector takes besides the model's features."""
        return None

    def _vector(self, features, extra):
        return np.asarray(features, np.float32)

    def vectors(self, inputs):
        """Each file's vector (float32), or None and the reason it could
        not be embedded: ``[(vector, error)]`` in the order of ``inputs``
        (what :meth:`read` gave).  The model runs once over the batch, or
        clip by clip for a model that normalises over its batch (Keras BN
        mode 2), whose features would depend on their batch mates."""
        out = [(None, r.error) for r in inputs]
        ok = [i for i, r in enumerate(inputs) if r.error is None]
        if not ok:
            return out
        xs = np.stack([inputs[i].x for i in ok])
        if self.model.batch_dependent:
            features = np.concatenate([self.model.extract(x[None], 1)
                                       for x in xs])
        else:
            features = self.model.extract(xs, len(xs))
        for i, f in zip(ok, features):
            if np.all(np.isfinite(f)):
                out[i] = (self._vector(f, inputs[i].extra), None)
            else:
                out[i] = (None, '{}: the model gave NaN or infinite '
                                'features'.format(inputs[i].path))
        return out

    def embed(self, paths, batch_size=8, decoder_delay='remove',
              workers=None):
        """Each file's vector (float32), or None and the reason it could
        not be embedded: ``[(vector, error)]`` in the order of
        ``paths``.  Files are read a few ahead on ``workers`` threads
        (default: the CPUs, at most 4)."""
        return [done for batch in self.embed_batches(
            paths, batch_size, decoder_delay, workers) for done in batch]

    def embed_batches(self, paths, batch_size=8, decoder_delay='remove',
                      workers=None):
        """:meth:`embed`'s results a batch of ``batch_size`` files at a
        time, for a caller that keeps each batch as it comes: the files
        are read ahead across batches."""
        def read(path):
            try:
                opened = open_input(path, self.model.clip_input,
                                    decoder_delay=decoder_delay)
            except InputError as e:
                return EmbeddingInput(path, None, None, str(e))
            return self.read(opened)

        batch = []
        workers = workers or default_workers()
        for _, r in prefetch(read, [str(p) for p in paths], workers,
                             depth=batch_size + workers):
            batch.append(r)
            if len(batch) == batch_size:
                yield self.vectors(batch)
                batch = []
        if batch:
            yield self.vectors(batch)


class FusedEmbedder(ModelEmbedder):
    """A model's features, then the MFCC mean and standard deviation of
    the whole file (librosa, :data:`~chainer_tagger.configuration.
    SIMILARITY_MFCC`)."""

    @property
    def blocks(self):
        return [self.model.feature_size, 2 * SIMILARITY_MFCC['n_mfcc']]

    def identity(self, model_identity):
        settings = dict(model_identity.settings,
                        fused={'mfcc': dict(SIMILARITY_MFCC),
                               'blocks': self.blocks})
        return model_identity._replace(
            name=model_identity.name + FUSED_SUFFIX, settings=settings)

    def _extra(self, opened):
        if opened.source is None:
            raise InputError('{}: a melgram .npy has no audio for its '
                             'MFCCs'.format(opened.path))
        return mfcc_summary(opened.source)

    def _vector(self, features, extra):
        return np.concatenate([features, extra]).astype(np.float32)


def mfcc_summary(source):
    """Mean and standard deviation over frames of the MFCCs of a decoded
    file (an :class:`~chainer_tagger.audio.decode.AudioSource`: the whole
    file, mono, at :data:`~chainer_tagger.configuration.SIMILARITY_MFCC`'s
    rate; librosa's defaults otherwise), float32."""
    y, sr = source.read(), SIMILARITY_MFCC['sr']
    if len(y) == 0:
        raise InputError('{}: no audio'.format(source.path))
    if source.samplerate != sr:
        y = resample(y, source.samplerate, sr)
    m = librosa.feature.mfcc(y=np.asarray(y, np.float32), sr=sr,
                             n_mfcc=SIMILARITY_MFCC['n_mfcc'])
    return np.concatenate([m.mean(axis=1), m.std(axis=1)]).astype(
        np.float32)


def embedder(model, gpu=None):
    """The embedder a run stores (``--embed-model``): a registry name or
    model file (``NAME+mfcc``: fused with MFCCs), loaded on its device, or
    a loaded model (its features alone)."""
    if isinstance(model, (str, os.PathLike)):
        name = os.fspath(model)
        fused = name.endswith(FUSED_SUFFIX)
        if fused:
            name = name[:-len(FUSED_SUFFIX)]
        loaded = load_model(name)
        if getattr(loaded, 'batch_dependent', False):
            # Keras BN mode 2 (rnn0-msd, cnn0-msd): each clip normalised on
            # its own, so a file's vector never depends on another's.
            loaded = load_model(name, per_clip=True)
        loaded = to_device(loaded, gpu)
        return FusedEmbedder(loaded) if fused else ModelEmbedder(loaded)
    return ModelEmbedder(to_device(model, gpu))
