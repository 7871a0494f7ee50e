"""``doctor``: what Chainer sees of the GPU stack, with a verdict."""
from chainer_tagger.device import gpu_report


def add_commands(sub):
    p = sub.add_parser('doctor', help='show what Chainer sees of CuPy, '
                                      'CUDA, cuDNN, NCCL and the GPUs')
    p.set_defaults(run=run_doctor)


def run_doctor(args):
    rows, verdict = gpu_report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print('{:<{}}  {}'.format(label, width, value))
    print('verdict: {}'.format(verdict))
    return 0
