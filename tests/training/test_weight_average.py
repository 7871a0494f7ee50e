"""The mean of the weights over a run's last epochs, and its resume."""
import types

import numpy as np

import chainer
import chainer.links as L

from chainer_tagger.training.weight_average import WeightAverage


def _trainer(epoch):
    return types.SimpleNamespace(updater=types.SimpleNamespace(epoch=epoch))


def _run(net, averager, epochs, weights):
    for epoch in epochs:
        net.W.array[...] = weights[epoch]
        averager(_trainer(epoch))


def test_the_mean_of_the_epochs_from_start_on():
    net = L.Linear(3, 2)
    rng = np.random.RandomState(0)
    weights = {e: rng.randn(2, 3).astype(np.float32) for e in range(1, 7)}
    averager = WeightAverage(net, start=4)
    _run(net, averager, range(1, 7), weights)
    assert averager.apply()
    np.testing.assert_allclose(net.W.array, np.mean(
        [weights[e] for e in (4, 5, 6)], axis=0), rtol=1e-6)


def test_frozen_weights_are_left_alone():
    net = chainer.Chain()
    with net.init_scope():
        net.head = L.Linear(3, 2)
        net.body = L.Linear(3, 3)
    chainer.optimizers.SGD().setup(net)
    net.body.disable_update()
    body = net.body.W.array.copy()
    averager = WeightAverage(net, start=1)
    averager(_trainer(1))
    net.body.W.array[...] += 1  # never happens to a frozen body; not kept
    net.head.W.array[...] += 2
    averager(_trainer(2))
    averager.apply()
    np.testing.assert_array_equal(net.body.W.array, body + 1)
    assert not [k for k in averager.mean if k.startswith('/body')]


def test_a_resumed_average_equals_an_uninterrupted_one(tmp_path):
    rng = np.random.RandomState(1)
    weights = {e: rng.randn(2, 3).astype(np.float32) for e in range(1, 9)}
    whole = L.Linear(3, 2)
    a = WeightAverage(whole, start=3)
    _run(whole, a, range(1, 9), weights)
    a.apply()

    first = L.Linear(3, 2)
    b = WeightAverage(first, start=3)
    _run(first, b, range(1, 6), weights)
    path = str(tmp_path / 'snapshot.npz')
    chainer.serializers.save_npz(path, b)
    second = L.Linear(3, 2)
    c = WeightAverage(second, start=3)
    chainer.serializers.load_npz(path, c)
    assert c.count == 3
    _run(second, c, range(6, 9), weights)
    c.apply()
    np.testing.assert_array_equal(second.W.array, whole.W.array)


def test_nothing_averaged_changes_nothing():
    net = L.Linear(3, 2)
    before = net.W.array.copy()
    averager = WeightAverage(net, start=10)
    averager(_trainer(3))
    assert not averager.apply()
    np.testing.assert_array_equal(net.W.array, before)


def test_a_run_extended_before_its_mean_began_averages_the_new_span(
        tmp_path):
    """1 epoch resumed to 3: the uninterrupted 3-epoch run averages
    epochs 2-3, so the mean the 1-epoch run kept of epoch 1 is dropped."""
    rng = np.random.RandomState(2)
    weights = {e: rng.randn(2, 3).astype(np.float32) for e in range(1, 4)}
    whole = L.Linear(3, 2)
    a = WeightAverage(whole, start=2)
    _run(whole, a, range(1, 4), weights)
    a.apply()
    short = L.Linear(3, 2)
    b = WeightAverage(short, start=1)
    _run(short, b, [1], weights)
    path = str(tmp_path / 'snapshot.npz')
    chainer.serializers.save_npz(path, b)
    longer = L.Linear(3, 2)
    c = WeightAverage(longer, start=2)
    chainer.serializers.load_npz(path, c)
    _run(longer, c, [2, 3], weights)
    c.apply()
    np.testing.assert_array_equal(longer.W.array, whole.W.array)


def test_a_run_extended_after_its_mean_began_goes_on_averaging(tmp_path):
    rng = np.random.RandomState(3)
    weights = {e: rng.randn(2, 3).astype(np.float32) for e in range(1, 7)}
    first = L.Linear(3, 2)
    b = WeightAverage(first, start=2)  # averaged epochs 2-4 when stopped
    _run(first, b, range(1, 5), weights)
    path = str(tmp_path / 'snapshot.npz')
    chainer.serializers.save_npz(path, b)
    more = L.Linear(3, 2)
    c = WeightAverage(more, start=3)  # the longer run's start, passed
    chainer.serializers.load_npz(path, c)
    _run(more, c, range(5, 7), weights)
    c.apply()
    np.testing.assert_allclose(more.W.array, np.mean(
        [weights[e] for e in range(2, 7)], axis=0), rtol=1e-6)
