"""Contrastive losses and contrastive augmentations against hand computations."""

import math

import numpy as np
import pytest
import torch

from skfewaudio.nn import (
    AdditiveNoise,
    ContrastiveViews,
    FrequencyShift,
    MixWithBatch,
    PowerGain,
    RandomTimeCrop,
    contrastive_views,
)
from skfewaudio.nn.losses import AngularContrastiveLoss, AngularMarginLoss

# acos(1 - 1e-6): the loss keeps cosines strictly inside (-1, 1).
THETA_ZERO = math.acos(1 - 1e-6)


def _unit(*vectors):
    z = torch.tensor(vectors, dtype=torch.float32)
    return z / z.norm(dim=1, keepdim=True)


def test_angular_margin_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])  # norms do not matter
    labels = torch.tensor([0, 0, 1])
    # Pairs: (0,1) same class at pi/2 -> (pi/2)^2; (0,2) different at angle 0 ->
    # (0.5 - 0)^2; (1,2) different at pi/2 > margin -> 0. Mean over the 3 unordered
    # pairs (each appears twice among the 6 ordered ones).
    expected = ((math.pi / 2) ** 2 + (0.5 - THETA_ZERO) ** 2 + 0.0) / 3
    got = AngularMarginLoss(margin=0.5)(z, labels).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_angular_margin_effect():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    positive_only = (math.pi / 2) ** 2 / 3
    # margin 0: negatives never contribute.
    assert AngularMarginLoss(0.0)(z, labels).item() == pytest.approx(positive_only, rel=1e-5)
    # margin 2 rad: the negative at pi/2 is now inside the margin too.
    wide = positive_only + ((2 - THETA_ZERO) ** 2 + (2 - math.pi / 2) ** 2) / 3
    assert AngularMarginLoss(2.0)(z, labels).item() == pytest.approx(wide, rel=1e-5)


def test_angular_margin_gradient_only_inside_margin():
    # A negative pair already beyond the margin gets no push.
    z = _unit([1.0, 0.0], [0.0, 1.0]).requires_grad_(True)
    AngularMarginLoss(0.5)(z, torch.tensor([0, 1])).backward()
    assert torch.count_nonzero(z.grad) == 0
    # Inside the margin it is pushed apart: the gradient on z0 points away from z1.
    z = _unit([1.0, 0.0], [1.0, 0.2]).requires_grad_(True)
    AngularMarginLoss(0.5)(z, torch.tensor([0, 1])).backward()
    assert (z.grad[0] @ z[1].detach()).item() > 0  # descent direction -grad moves away


def _supcon_by_hand(z, labels, tau):
    z = z / z.norm(dim=1, keepdim=True)
    s = (z @ z.T).numpy() / tau
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        log_denominator = math.log(sum(math.exp(s[i, a]) for a in others))
        positives = [p for p in others if labels[p] == labels[i]]
        losses.append(-np.mean([s[i, p] - log_denominator for p in positives]))
    return float(np.mean(losses))


def _ntxent_by_hand(z, labels, tau):
    z = z / z.norm(dim=1, keepdim=True)
    s = (z @ z.T).numpy() / tau
    losses = []
    for i in range(len(z)):
        negatives = [n for n in range(len(z)) if labels[n] != labels[i]]
        for p in range(len(z)):
            if p != i and labels[p] == labels[i]:
                denominator = math.exp(s[i, p]) + sum(math.exp(s[i, n]) for n in negatives)
                losses.append(-(s[i, p] - math.log(denominator)))
    return float(np.mean(losses))


Z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.1], [0.0, -1.0], [0.3, 0.3]])
Y = torch.tensor([0, 0, 1, 1, 0])


def test_supcon_by_hand():
    loss = AngularContrastiveLoss(alpha=1.0, temperature=0.5, contrastive="supcon")
    assert loss(Z, Y).item() == pytest.approx(_supcon_by_hand(Z, Y, 0.5), rel=1e-5)


def test_ntxent_by_hand():
    labels = torch.tensor([0, 1, 2, 0, 1])  # rows 0/3 and 1/4 are two views of a clip
    loss = AngularContrastiveLoss(alpha=1.0, temperature=0.2, contrastive="ntxent")
    assert loss(Z, labels).item() == pytest.approx(_ntxent_by_hand(Z, labels, 0.2), rel=1e-5)


def test_acl_combines_with_alpha():
    acl = AngularContrastiveLoss(alpha=0.7, margin=0.5, temperature=0.5)
    expected = 0.7 * _supcon_by_hand(Z, Y, 0.5) + 0.3 * AngularMarginLoss(0.5)(Z, Y).item()
    assert acl(Z, Y).item() == pytest.approx(expected, rel=1e-5)
    # A larger margin makes more negative pairs count: the ACL grows, SupCon does not.
    assert AngularContrastiveLoss(alpha=0.7, margin=2.0, temperature=0.5)(Z, Y).item() > (
        acl(Z, Y).item())


def test_unknown_contrastive_kind():
    with pytest.raises(ValueError, match="supcon"):
        AngularContrastiveLoss(contrastive="triplet")


# ------------------------------------------------------------ augmentations
def _specs(seed=0, shape=(6, 20, 30)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


AUGMENTATIONS = [
    MixWithBatch(), FrequencyShift(), RandomTimeCrop(), PowerGain(), AdditiveNoise(),
    contrastive_views(spec_augment=True),
]


@pytest.mark.parametrize("module", AUGMENTATIONS, ids=lambda m: type(m).__name__)
def test_augmentations_keep_shape_and_finite_values(module):
    spec = _specs()
    out = module.train()(spec)
    factor = 2 if isinstance(module, ContrastiveViews) else 1
    assert out.shape == (factor * spec.shape[0],) + spec.shape[1:]
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[: len(spec)], spec)  # it did something
    # Identity at inference time.
    eval_out = module.eval()(spec)
    assert torch.equal(eval_out[: len(spec)], spec)


@pytest.mark.parametrize("cls", [MixWithBatch, FrequencyShift, RandomTimeCrop, PowerGain,
                                 AdditiveNoise])
def test_augmentations_reproducible_with_generator(cls):
    spec = _specs()
    a = cls(generator=torch.Generator().manual_seed(3)).train()(spec)
    b = cls(generator=torch.Generator().manual_seed(3)).train()(spec)
    assert torch.equal(a, b)


def test_frequency_shift_moves_rows_up():
    spec = torch.zeros(8, 16, 5)
    spec[:, 3, :] = 1.0
    out = FrequencyShift(max_shift=4, generator=torch.Generator().manual_seed(0)).train()(spec)
    rows = out[:, :, 0].argmax(dim=1)
    assert ((rows >= 3) & (rows <= 7)).all() and (rows > 3).any()
    assert torch.equal(out.sum(dim=(1, 2)), torch.full((8,), 5.0))  # nothing else lit


def test_time_crop_full_fraction_is_identity():
    spec = _specs()
    out = RandomTimeCrop(1.0, 1.0).train()(spec)
    assert torch.allclose(out, spec, atol=1e-5)


def test_mix_stays_between_the_two_clips():
    spec = torch.stack([torch.zeros(4, 6), torch.ones(4, 6)])
    out = MixWithBatch(generator=torch.Generator().manual_seed(0)).train()(spec)
    # a ~ Beta(5, 2): each clip keeps most of itself.
    assert (out[0] < 0.5).all() and (out[1] > 0.5).all()


def test_views_mix_one_view_only():
    spec = _specs()
    views = ContrastiveViews(chain=(), mix=MixWithBatch()).train()
    out = views(spec)
    assert torch.equal(out[len(spec):], spec)
    assert not torch.equal(out[: len(spec)], spec)
