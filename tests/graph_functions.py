"""Which functions a graph ran: tests of the graph a GPU runs assert that
it is made of Chainer's standard functions (cuDNN's on a GPU), not of this
package's CPU kernels, which would make "the generic graph equals the
reference" a comparison of the CPU kernels with themselves."""
import collections

import chainer


class FunctionsRun(chainer.FunctionHook):
    """Records the module and label of every function applied."""

    name = 'FunctionsRun'

    def __init__(self):
        self.calls = []

    def forward_preprocess(self, function, in_data):
        self.calls.append((type(function).__module__, function.label))

    def count(self, label):
        return collections.Counter(label for _, label in self.calls)[label]

    def not_chainers(self):
        """Functions from outside ``chainer.functions``."""
        return sorted({'{}.{}'.format(module, label)
                       for module, label in self.calls
                       if not module.startswith('chainer.functions.')})

    def assert_standard(self, *labels):
        """Only Chainer's standard functions ran, ``labels`` among them."""
        assert self.calls, 'no function ran: a graph-free CPU kernel?'
        assert self.not_chainers() == [], 'CPU kernels ran'
        for label in labels:
            assert self.count(label), '{} did not run'.format(label)
