"""The exceptions of chainer-tagger, under one root.

Everything the package raises on purpose (a file it cannot read, a model it
cannot find, a request it cannot carry out) is a :class:`ChainerTaggerError`,
so a program, and the command line, can catch one class.  Most also derive
from :class:`ValueError` (a bad argument or file), as they always did.
"""


class ChainerTaggerError(Exception):
    """Root of every error chainer-tagger raises on purpose."""


class InputError(ChainerTaggerError, ValueError):
    """An input (audio file, melgram ``.npy``) that cannot be turned into
    a model input, with the path and the reason."""


class AudioDecodeError(InputError):
    """An audio file that cannot be decoded, with the reason."""


class ModelFileError(ChainerTaggerError, ValueError):
    """A file that is not a usable chainer-tagger model file."""


class KerasWeightsError(ModelFileError):
    """A Keras weight file that cannot be read into the requested model."""


class UnsafeFileError(ModelFileError):
    """A file that would run code when loaded (a pickle that is not the
    registered one, or that asks for anything but arrays)."""


class PretrainedModelError(ChainerTaggerError, ValueError):
    """A model that cannot be found, verified, downloaded or converted."""


class DeviceError(ChainerTaggerError, RuntimeError):
    """A device (GPU) that was asked for but cannot be used."""


class DatasetError(ChainerTaggerError, ValueError):
    """A dataset folder that cannot be used."""


class TrainingError(ChainerTaggerError, ValueError):
    """A training request that cannot be carried out, with the reason."""


class FolderError(ChainerTaggerError, OSError):
    """A folder that cannot be created or written (the cache, an output
    folder), with the reason."""


class LibraryStoreError(ChainerTaggerError, ValueError):
    """A library database that cannot be used (not one of ours, written by
    a newer release, damaged), with the reason; it is left as it was."""


class TagWriteError(ChainerTaggerError, OSError):
    """Tags that cannot be written into an audio file (read-only, changed
    since it was tagged, a format without tags), with the reason; the
    file is left as it was."""


class UsageError(ChainerTaggerError, ValueError):
    """Arguments that do not fit together (a command-line mistake)."""


class ChainerTaggerWarning(UserWarning):
    """Something a run should say without stopping: scores that depend on
    a clip's batch mates, a damaged cache entry rebuilt.  The command line
    prints each as one ``warning:`` line on stderr."""
