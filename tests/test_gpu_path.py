"""The GPU path end to end: the same numbers as the CPU.  Run by
``make gpu-check`` on a machine with a CUDA GPU (deselected elsewhere)."""
import numpy as np
import pytest

import chainer

from chainer_tagger.cli import main
from chainer_tagger.device import get_device, to_device
from chainer_tagger.models import Music2Vec, load_model

from conftest import AUDIO, SONGS

pytestmark = [pytest.mark.gpu, pytest.mark.shared]
TAGGERS = ('crnn-msd', 'crnn-gtzan', 'cnn-msd', 'cnn0-msd', 'rnn0-msd')


@pytest.mark.parametrize('name', TAGGERS)
def test_gpu_scores_equal_cpu_scores(name, shipped_melgrams):
    cpu = load_model(name).predict(shipped_melgrams)
    gpu = to_device(load_model(name), 0)
    assert gpu.xp is not np
    np.testing.assert_allclose(gpu.predict(shipped_melgrams), cpu,
                               atol=1e-4)


def test_tag_command_on_the_gpu(capsys, reference):
    import json
    paths = [str(AUDIO / (s + '.melgram.npy')) for s in SONGS]
    assert main(['tag', '--gpu', '0', '--format', 'json', '--no-progress']
                + paths) == 0
    for song, result in zip(SONGS, json.loads(capsys.readouterr().out)):
        scores = {t['tag']: t['score'] for t in result['tags']}
        for tag, published in reference['songs'][song]:
            assert round(scores[tag], 3) == published


def test_music2vec_on_the_gpu():
    wave = np.random.RandomState(0).uniform(-0.3, 0.3, (2, 675808)).astype(
        np.float32)
    net = Music2Vec(soundnet='soundnet8', dropout=0.0)
    cpu = net.extract(wave)
    gpu = to_device(net, 0).extract(wave)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3,
                               atol=1e-3 * np.abs(cpu).max())


def test_a_training_step_on_the_gpu():
    import chainer.functions as F
    device = get_device(0)
    net = Music2Vec(soundnet='soundnet8', dropout=0.0)
    net.to_device(device)
    opt = chainer.optimizers.Adam()
    opt.setup(net)
    x = device.send(np.random.RandomState(0).uniform(
        -0.3, 0.3, (2, 675808)).astype(np.float32))
    loss = F.softmax_cross_entropy(net.logits(x),
                                   device.send(np.array([0, 1], np.int32)))
    net.cleargrads()
    loss.backward()
    opt.update()
    assert np.isfinite(float(loss.array))
