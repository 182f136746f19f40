import numpy as np
import torch

from skfewaudio.nn.statistics import correlations, mean_std_over_time


def test_correlations_of_shared_opposite_and_constant_rows(rng):
    shared = rng.normal(size=100)
    signals = torch.from_numpy(np.stack([shared, 2 * shared + 1, -shared, np.full(100, 3.0)])[None])
    pairs = correlations(signals)[0]  # (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    np.testing.assert_allclose(pairs.numpy(), [1, -1, 0, -1, 0, 0], atol=1e-12)


def test_rounding_noise_on_a_flat_row_is_not_a_shape(rng):
    varying = rng.normal(size=(2, 50))
    flat = 3.0 + 1e-12 * rng.normal(size=50)  # a constant row after float rounding
    signals = torch.from_numpy(np.vstack([varying, flat])[None])
    pairs = correlations(signals)[0].numpy()  # (0,1) (0,2) (1,2)
    np.testing.assert_allclose(pairs[1:], 0.0)
    assert abs(pairs[0] - np.corrcoef(varying)[0, 1]) < 1e-12


def test_an_encoder_trains_through_constant_rows():
    signals = torch.randn(2, 3, 8)
    signals[:, 2] = 0.0  # a map the ReLU silenced
    signals.requires_grad_(True)
    correlations(signals).sum().backward()
    assert torch.isfinite(signals.grad).all()
    assert (signals.grad[:, :2] != 0).any()


def test_mean_std_over_time_is_numpys(rng):
    signals = rng.normal(size=(3, 4, 20))
    pooled = mean_std_over_time(torch.from_numpy(signals)).numpy()
    np.testing.assert_allclose(pooled, np.hstack([signals.mean(2), signals.std(2)]))
