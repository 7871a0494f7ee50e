"""What ``doctor`` does (its arguments: :mod:`chainer_tagger.cli.doctor`)."""
from chainer_tagger.device import gpu_report


def run_doctor(args):
    rows, verdict = gpu_report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print('{:<{}}  {}'.format(label, width, value))
    print('verdict: {}'.format(verdict))
    return 0
