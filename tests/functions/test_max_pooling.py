"""The compiled max pooling of one clip against NumPy: the maxima (the
minima of flipped channels), the position of each window's first extreme,
ragged borders dropped."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chainer_tagger.functions.max_pooling import max_pool


def _numpy_pool(x, window, flip):
    """``(pooled, offsets)`` by reshaping: each window's values in
    row-major order, the first maximum (minimum where flipped)."""
    (ph, pw), (c, h, w) = window, x.shape
    rows, cols = h // ph, w // pw
    windows = x[:, :rows * ph, :cols * pw].reshape(c, rows, ph, cols, pw)
    windows = windows.transpose(0, 1, 3, 2, 4).reshape(c, rows, cols, -1)
    signed = np.where(flip[:, None, None, None], -windows, windows)
    offsets = signed.argmax(axis=-1)  # the first of equal extremes
    pooled = np.take_along_axis(windows, offsets[..., None], -1)[..., 0]
    return pooled, offsets


@st.composite
def clips(draw):
    # Each window is compiled once (Numba): the CRNN's and SoundNet's, and
    # a few others.
    ph, pw = draw(st.sampled_from([(2, 2), (3, 3), (4, 4), (1, 8), (1, 1),
                                   (2, 3), (3, 1)]))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(ph, 3 * ph + 2))
    w = draw(st.integers(pw, 3 * pw + 3))
    # Few distinct values: windows with equal maxima are common.
    x = draw(arrays(np.float32, (c, h, w), elements=st.integers(-3, 3).map(
        float)))
    flip = np.array(draw(st.lists(st.booleans(), min_size=c, max_size=c)))
    return x, (ph, pw), flip


@settings(max_examples=300, deadline=None)
@given(clips())
def test_max_pool_equals_numpy(clip):
    x, window, flip = clip
    pooled, offsets = max_pool(x, window, flip)
    want_pooled, want_offsets = _numpy_pool(x, window, flip)
    assert pooled.dtype == x.dtype and offsets.dtype == np.uint8
    np.testing.assert_array_equal(pooled, want_pooled)
    np.testing.assert_array_equal(offsets, want_offsets)


def test_no_flip_means_maxima_everywhere():
    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    x[1] *= -1
    pooled, offsets = max_pool(x, (2, 3))
    np.testing.assert_array_equal(pooled, [[[8, 11], [20, 23]],
                                           [[-24, -27], [-36, -39]]])
    np.testing.assert_array_equal(offsets, [[[5, 5], [5, 5]],
                                            [[0, 0], [0, 0]]])
