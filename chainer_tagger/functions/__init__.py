"""Stateless kernels: pure functions and Chainer functions that the links
call.

Each layer's ``forward`` calls one function here, and that function picks
the kernel in one place (:func:`cpu_kernels_apply`): the CPU kernels of
this package on NumPy arrays, Chainer's standard functions (cuDNN on a GPU)
otherwise, or everywhere inside :func:`generic_kernels`.  The CPU kernels
are differentiable Chainer functions (training runs them too), with
hand-written backward passes.
"""
from chainer_tagger.functions.batch_norm_activation_pool import (  # NOQA
    BatchNormSpec, batch_norm_activation_pool)
from chainer_tagger.functions.batch_norm_folding import (  # NOQA
    batch_norm_affine, fold_batch_norm)
from chainer_tagger.functions.clip_parallel import for_each_clip  # NOQA
from chainer_tagger.functions.conv_block_1d import (  # NOQA
    conv_bn_relu_pool_1d, strided_conv_1d)
from chainer_tagger.functions.conv_block_2d import conv_bn_elu_pool_2d  # NOQA
from chainer_tagger.functions.convolution_1d import convolution_1d  # NOQA
from chainer_tagger.functions.convolution_3x3 import convolution_3x3  # NOQA
from chainer_tagger.functions.dropout import dropout  # NOQA
from chainer_tagger.functions.global_moments import global_moments  # NOQA
from chainer_tagger.functions.kernel_choice import (  # NOQA
    cpu_kernels_apply, generic_kernels)
