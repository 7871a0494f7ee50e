"""Unpickling that can rebuild NumPy arrays and nothing else.

A pickle names the functions that rebuild its objects, and loading it calls
them: that is how a pickle runs code.  This unpickler resolves only the
few NumPy names that rebuild arrays, dtypes and scalars; any other name in
the stream (``os.system``, a class of some package) raises
:class:`~chainer_tagger.errors.UnsafeFileError` before it is called.
"""
import pickle

from chainer_tagger.errors import UnsafeFileError

_ALLOWED = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """:class:`pickle.Unpickler` restricted to NumPy's array names."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafeFileError(
            'refusing to unpickle {}.{}: only NumPy arrays are allowed'
            .format(module, name))


def load_arrays_only(stream, encoding='ASCII'):
    """Unpickle ``stream`` with :class:`ArrayOnlyUnpickler`."""
    return ArrayOnlyUnpickler(stream, encoding=encoding).load()
