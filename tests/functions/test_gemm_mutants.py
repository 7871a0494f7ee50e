"""Found by mutation testing (a mis-shaped folded kernel crashed the
process): the GEMM behind the CPU kernels refuses operands whose shapes do
not multiply, as ``a @ b`` does, instead of handing BLAS pointers to read
and write past the arrays."""
import numpy as np
import pytest

from chainer_tagger.functions.gemm import matmul


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_mismatched_operands_are_refused(dtype):
    a = np.ones((2, 3), dtype)
    with pytest.raises(ValueError, match=r'\(2, 3\) and \(4, 5\)'):
        matmul(a, np.ones((4, 5), dtype))
    with pytest.raises(ValueError, match=r'\(2, 3\) and \(3, 5\) do not '
                       r'multiply into \(3, 5\)'):
        matmul(a, np.ones((3, 5), dtype), out=np.zeros((3, 5), dtype))
    np.testing.assert_array_equal(matmul(a, np.ones((3, 5), dtype)),
                                  np.full((2, 5), 3, dtype))
