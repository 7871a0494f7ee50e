"""chainer-tagger: music auto-tagging and genre classification in Chainer.

Faithful ports of Keunwoo Choi's Keras-1 taggers (MusicTaggerCRNN,
MusicTaggerCNN and their early mode-2 versions, and the GTZAN CRNN
fine-tuned from them) running from the published Keras weights, and
music2vec (SoundNet-8 with two LSTMs) for genre classification.

The data flows one way, and so do the packages: ``audio`` (files to model
inputs) -> ``models`` (built from ``links`` and ``functions``, weights from
``pretrained``) -> ``inference`` (scores, reports), ``library`` (whole
libraries) and ``training``.

>>> import chainer_tagger
>>> results = chainer_tagger.tag('song.mp3')  # doctest: +SKIP
>>> results[0]['tags'][:3]                    # doctest: +SKIP

The names below are imported when first used (:data:`PUBLIC_NAMES`), so
``import chainer_tagger`` -- which every ``chainer_tagger.*`` import and
every ``chainer-tagger --help`` runs first -- loads no Chainer, NumPy or
librosa.
"""
import importlib

from chainer_tagger import cuda_libraries

cuda_libraries.preload()  # before anything imports CuPy (see the module)

__version__ = '0.1.0'

#: The package's public names, ``'module:attribute'``, imported on first
#: use (PEP 562).  With :data:`chainer_tagger.cli.COMMANDS`, the only
#: places where the package imports its own modules late.
PUBLIC_NAMES = {
    'ChainerTaggerError': 'chainer_tagger.errors:ChainerTaggerError',
    'Music2Vec': 'chainer_tagger.models:Music2Vec',
    'MusicTaggerCNN': 'chainer_tagger.models:MusicTaggerCNN',
    'MusicTaggerCRNN': 'chainer_tagger.models:MusicTaggerCRNN',
    'SoundNet8': 'chainer_tagger.models:SoundNet8',
    'load_model': 'chainer_tagger.models:load_model',
    'melgram': 'chainer_tagger.audio:melgram',
    'tag': 'chainer_tagger.inference:tag',
    'tag_library': 'chainer_tagger.library:tag_library',
}
__all__ = sorted(PUBLIC_NAMES)


def __getattr__(name):
    """A public name, imported now (and kept, so this runs once per
    name)."""
    try:
        module, attribute = PUBLIC_NAMES[name].split(':')
    except KeyError:
        raise AttributeError('module {!r} has no attribute {!r}'.format(
            __name__, name)) from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(PUBLIC_NAMES))
