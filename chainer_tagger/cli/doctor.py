"""``doctor``: what Chainer sees of the GPU stack, with a verdict.

The command's arguments; what it does is
:mod:`chainer_tagger.cli.run.doctor`.
"""


def add_commands(sub):
    sub.add_parser('doctor', help='show what Chainer sees of CuPy, '
                                  'CUDA, cuDNN, NCCL and the GPUs')
