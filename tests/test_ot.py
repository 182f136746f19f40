"""Batched Sinkhorn against POT's single-problem solver."""

import numpy as np
import pytest
import torch

from skfewaudio.nn.ot import cosine_matrix, ot_similarity, sinkhorn

ot = pytest.importorskip("ot")


def _pot(cost, reg, a=None, b=None):
    n, m = cost.shape
    a = np.full(n, 1 / n) if a is None else a
    b = np.full(m, 1 / m) if b is None else b
    method = "sinkhorn" if reg >= 0.05 else "sinkhorn_log"  # plain POT underflows
    return ot.sinkhorn(a, b, cost, reg, method=method, numItermax=20000, stopThr=1e-10)


@pytest.mark.parametrize("reg", [0.1, 0.5, 0.04])  # 0.04: float32 uses torch.logsumexp
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batched_plans_equal_pot_per_pair(reg, dtype):
    rng = np.random.default_rng(0)
    cost = rng.uniform(0, 2, size=(3, 4, 6, 9))
    tol = 1e-10 if dtype == torch.float64 else 1e-6  # float32 cannot go much lower
    plans = sinkhorn(torch.tensor(cost, dtype=dtype), reg=reg, tol=tol, max_iter=20000)
    plans = plans.double().numpy()
    assert plans.shape == cost.shape
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(plans[i, j], _pot(cost[i, j], reg), atol=1e-5)


def test_nonuniform_and_padded_marginals_equal_pot():
    rng = np.random.default_rng(1)
    cost = rng.uniform(0, 2, size=(5, 7))
    a = rng.uniform(0.5, 1.5, size=5)
    a /= a.sum()
    b = np.r_[np.full(4, 0.25), np.zeros(3)]  # last three targets are padding
    plan = sinkhorn(torch.tensor(cost), torch.tensor(a), torch.tensor(b), reg=0.1).numpy()
    np.testing.assert_allclose(plan[:, :4], _pot(cost[:, :4], 0.1, a, b[:4]), atol=1e-5)
    assert np.all(plan[:, 4:] == 0)


def test_plans_meet_their_marginals():
    cost = torch.rand(8, 5, 6, dtype=torch.float64) * 2
    plan = sinkhorn(cost, reg=0.05, tol=1e-10, max_iter=5000)
    torch.testing.assert_close(plan.sum(-1), torch.full((8, 5), 1 / 5, dtype=torch.float64))
    torch.testing.assert_close(plan.sum(-2), torch.full((8, 6), 1 / 6, dtype=torch.float64))


def test_ot_similarity_is_plan_weighted_cosine():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 8))
    y = rng.normal(size=(2, 5, 8))
    sim = ot_similarity(torch.tensor(x)[:, None], torch.tensor(y)[None], reg=0.1,
                        max_iter=5000, tol=1e-10).numpy()
    assert sim.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            xn = x[i] / np.linalg.norm(x[i], axis=1, keepdims=True)
            yn = y[j] / np.linalg.norm(y[j], axis=1, keepdims=True)
            cos = xn @ yn.T
            expected = np.sum(_pot(1 - cos, 0.1) * cos)
            assert sim[i, j] == pytest.approx(expected, abs=1e-6)


def test_cosine_matrix_matches_numpy():
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    expected = (x / x.norm(dim=1, keepdim=True)) @ (y / y.norm(dim=1, keepdim=True)).T
    torch.testing.assert_close(cosine_matrix(x, y), expected)


@pytest.mark.parametrize("differentiable_plan", [False, True])
def test_gradient_reaches_the_points(differentiable_plan):
    x = torch.randn(2, 4, 6, requires_grad=True)
    y = torch.randn(2, 3, 6)
    ot_similarity(x, y, differentiable_plan=differentiable_plan, max_iter=20).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_invalid_reg():
    with pytest.raises(ValueError, match="reg must be positive"):
        sinkhorn(torch.zeros(2, 2), reg=0.0)
