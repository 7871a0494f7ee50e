"""What mutation testing of ``functions/dropout.py`` and
``functions/kernel_choice.py`` found untested: which dropout runs where,
a mask drawn for every value (not shared along an axis), and the words of
the double-backpropagation refusal."""
import numpy as np
import pytest

import chainer

from chainer_tagger.functions import dropout, generic_kernels
from chainer_tagger.functions.dropout import dropout_mask
from chainer_tagger.functions.kernel_choice import forbid_double_backprop

from graph_functions import FunctionsRun


@pytest.mark.parametrize('shape', [(4, 6), (2, 3, 5)])
def test_the_cpu_kernel_drops_on_numpy_and_chainers_inside_generic(shape):
    """NumPy input of 2 or more axes: the CPU kernel (``MaskedScale``);
    inside ``generic_kernels()`` (the GPU's graph) and for one axis:
    Chainer's ``Dropout``."""
    x = np.ones(shape, np.float32)
    with chainer.using_config('train', True):
        with FunctionsRun() as hook:
            dropout(x, 0.5)
        assert [label for _, label in hook.calls] == ['MaskedScale']
        with generic_kernels(), FunctionsRun() as hook:
            dropout(x, 0.5)
        hook.assert_standard('Dropout')
        with FunctionsRun() as hook:
            dropout(np.ones(8, np.float32), 0.5)
        hook.assert_standard('Dropout')


def test_each_value_of_a_clip_gets_its_own_draw():
    """The mask is drawn for every value of a clip, not shared along its
    first axis (channels) or any other."""
    np.random.seed(0)
    keep = dropout_mask((2, 64, 50), 0.5)
    for clip in keep:
        assert len({row.tobytes() for row in clip}) == 64
        assert len({col.tobytes() for col in clip.T}) == 50
    assert abs(keep.mean() - 0.5) < 0.02


def test_double_backprop_refusal_says_what_to_do():
    with pytest.raises(NotImplementedError, match=(
            r"^conv: double backpropagation needs Chainer's standard "
            r"functions: run it inside chainer_tagger\.functions\."
            r"generic_kernels\(\)$")):
        forbid_double_backprop('conv')
