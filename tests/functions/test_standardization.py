import numpy as np

from chainer_tagger.functions.standardization import (
    standardization_statistics, standardize)


def test_standardized_training_examples_have_mean_0_and_std_1():
    rng = np.random.RandomState(0)
    h = rng.normal(loc=rng.normal(size=(15, 4)) * 50,
                   scale=rng.uniform(0.1, 30, (15, 4)),
                   size=(200, 15, 4)).astype(np.float32)
    h[:, 0, 0] = 7.0  # a feature that never varies
    mean, scale = standardization_statistics(h, floor=1e-3)
    assert mean.dtype == scale.dtype == np.float32
    assert mean.shape == scale.shape == (15, 4)
    z = standardize(h, mean, scale).array
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    sd = h.astype(np.float64).std(axis=0)
    # 1 up to the floor: sd / (sd + floor)
    np.testing.assert_allclose(z.std(axis=0), sd / (sd + 1e-3), rtol=1e-4,
                               atol=1e-6)
    assert scale[0, 0] == np.float32(1e-3) and np.all(z[:, 0, 0] == 0)
