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
store, from the model's own identity), and says ``blocks``.
"""
import os

import librosa
import numpy as np

from chainer_tagger.audio import load_audio
from chainer_tagger.configuration import FUSED_SUFFIX, SIMILARITY_MFCC
from chainer_tagger.device import to_device
from chainer_tagger.errors import InputError
from chainer_tagger.inference.embedding import embed_files
from chainer_tagger.models import load_model


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
        :class:`~chainer_tagger.library.store.ModelIdentity`."""
        return model_identity

    def _features(self, paths, batch_size, decoder_delay):
        """``[(vector, None) or (None, error)]`` of the model."""
        paths = [str(p) for p in paths]
        features, index = embed_files(self.model, paths, window='centre',
                                      batch_size=batch_size,
                                      decoder_delay=decoder_delay)
        found = {e['path']: e for e in index}
        out = []
        for p in paths:
            e = found[p]
            out.append((None, e['error']) if 'error' in e else
                       (np.asarray(features[e['row']], np.float32), None))
        return out

    def embed(self, paths, batch_size=8, decoder_delay='remove'):
        """Each file's vector (float32), or None and the reason it could
        not be embedded: ``[(vector, error)]`` in the order of
        ``paths``."""
        return self._features(paths, batch_size, decoder_delay)


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

    def embed(self, paths, batch_size=8, decoder_delay='remove'):
        out = []
        for (vector, error), path in zip(
                self._features(paths, batch_size, decoder_delay), paths):
            if vector is not None:
                try:
                    vector = np.concatenate(
                        [vector, mfcc_summary(path, decoder_delay)])
                except InputError as e:
                    vector, error = None, str(e)
            out.append((vector, error))
        return out


def mfcc_summary(path, decoder_delay='remove'):
    """Mean and standard deviation over frames of a file's MFCCs (librosa's
    defaults otherwise), float32."""
    y, sr = load_audio(path, SIMILARITY_MFCC['sr'], decoder_delay)
    if len(y) == 0:
        raise InputError('{}: no audio'.format(path))
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
