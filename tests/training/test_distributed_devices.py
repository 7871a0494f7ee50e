"""Making batch normalization global keeps every array on its link's
device (checked with a fake device: the copy must go through the new
link's own device, not into NumPy arrays)."""
import numpy as np
import pytest

import chainer
import chainer.links as L

from chainer_tagger.training.distributed import make_batch_norm_global

pytestmark = pytest.mark.mpi


class _Net(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.bn = L.BatchNormalization(3)


def test_replacement_follows_the_device_of_the_layer(monkeypatch):
    import chainermn
    net = _Net()
    net.bn.avg_mean[...] = [1, 2, 3]
    moved = []
    original = chainermn.links.MultiNodeBatchNormalization.to_device

    def spy(self, device):
        moved.append(device)
        return original(self, device)
    monkeypatch.setattr(chainermn.links.MultiNodeBatchNormalization,
                        'to_device', spy)

    class _Comm:
        size = 1
    make_batch_norm_global(net, _Comm())
    assert isinstance(net.bn, chainermn.links.MultiNodeBatchNormalization)
    assert moved == [net.bn.device]
    np.testing.assert_array_equal(net.bn.avg_mean, [1, 2, 3])
