"""Spectrogram augmentations as torch modules; each is the identity in ``eval()`` mode.

Every module takes a batch of (normalised log-mel) spectrograms
``(batch, n_mels, n_frames)`` and returns one of the same shape; each draws its own
random parameters per clip from an optional ``torch.Generator`` (CPU), so a seeded
generator makes the augmentation reproducible on any device.

* :class:`TimeFrequencyMasking`: SpecAugment's frequency and time masks (Park et al.).
* The contrastive-view chain of Moummad et al. (DCASE 2023): mixing with another clip
  of the batch with weight ``a ~ Beta(5, 2)`` (one view only), frequency shift of 0-10
  bins, random time crop of 60-100 % resized back, power gain ``U(0.75, 1)``, Gaussian
  noise with ``sigma ~ U(0, 0.1)``; :func:`contrastive_views` assembles it.
"""

import torch
from torch import nn


def _mask_along(spec, axis, max_width, n_masks, mask_value, generator):
    """Zero (or fill) ``n_masks`` random bands of width < ``max_width`` along ``axis``."""
    batch, size = spec.shape[0], spec.shape[axis]
    max_width = min(max_width, size)
    if max_width < 1 or n_masks < 1:
        return spec
    positions = torch.arange(size, device=spec.device)
    mask = torch.zeros(batch, size, dtype=torch.bool, device=spec.device)
    for _ in range(n_masks):
        width = torch.randint(0, max_width + 1, (batch, 1), generator=generator)
        start = (torch.rand((batch, 1), generator=generator) * (size - width + 1)).long()
        width, start = width.to(spec.device), start.to(spec.device)
        mask |= (positions >= start) & (positions < start + width)
    shape = [batch, 1, 1]
    shape[axis] = size
    return torch.where(mask.view(shape), mask_value, spec)


class TimeFrequencyMasking(nn.Module):
    """Frequency and time masking (Park et al., 2019) on ``(batch, n_mels, n_frames)``.

    Each spectrogram gets ``n_freq_masks`` bands of 0..``freq_mask_param`` mel rows and
    ``n_time_masks`` bands of 0..``time_mask_param`` frames replaced by its own mean
    (``mask_value="mean"``, neutral for log-mel) or by a constant. The module is the
    identity in ``eval()`` mode, so it can sit inside a network used for inference.

    Parameters
    ----------
    generator : torch.Generator or None
        Source of randomness; ``None`` uses torch's global generator.
    """

    def __init__(self, freq_mask_param=16, time_mask_param=20, n_freq_masks=2,
                 n_time_masks=2, mask_value="mean", generator=None):
        super().__init__()
        self.freq_mask_param = freq_mask_param
        self.time_mask_param = time_mask_param
        self.n_freq_masks = n_freq_masks
        self.n_time_masks = n_time_masks
        self.mask_value = mask_value
        self.generator = generator

    def forward(self, spec):
        if not self.training:
            return spec
        if self.mask_value == "mean":
            fill = spec.mean(dim=(1, 2), keepdim=True)
        else:
            fill = torch.as_tensor(float(self.mask_value), dtype=spec.dtype, device=spec.device)
        spec = _mask_along(spec, 1, self.freq_mask_param, self.n_freq_masks, fill, self.generator)
        return _mask_along(spec, 2, self.time_mask_param, self.n_time_masks, fill, self.generator)


def _uniform(n, low, high, generator, device):
    return (low + (high - low) * torch.rand(n, generator=generator)).to(device)


class _Augmentation(nn.Module):
    def __init__(self, generator=None):
        super().__init__()
        self.generator = generator

    def forward(self, spec):
        return self.apply_random(spec) if self.training else spec


class MixWithBatch(_Augmentation):
    """``a * x + (1 - a) * x[perm]``: mix each clip with another clip of the batch
    (background-sound mixing), ``a ~ Beta(alpha, beta)`` per clip."""

    def __init__(self, alpha=5.0, beta=2.0, generator=None):
        super().__init__(generator)
        self.alpha = alpha
        self.beta = beta

    def apply_random(self, spec):
        n = len(spec)
        if n < 2:
            return spec
        weight = _beta_sample(self.alpha, self.beta, n, self.generator).to(spec.device)
        # Rolling the (shuffled) batch by 1..n-1 gives every clip a partner other than itself.
        offset = int(torch.randint(1, n, (1,), generator=self.generator))
        partner = torch.roll(spec, shifts=offset, dims=0)
        weight = weight.to(spec.dtype).view(-1, 1, 1)
        return weight * spec + (1 - weight) * partner


def _beta_sample(alpha, beta, n, generator):
    """Beta(alpha, beta) draws from a seeded generator, by inverse-CDF on a fine grid."""
    grid = torch.linspace(0, 1, 2049, dtype=torch.float64)[1:-1]
    log_pdf = (alpha - 1) * torch.log(grid) + (beta - 1) * torch.log1p(-grid)
    cdf = torch.cumsum(torch.exp(log_pdf - log_pdf.max()), 0)
    cdf = cdf / cdf[-1]
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    index = torch.searchsorted(cdf, u).clamp(max=len(grid) - 1)
    return grid[index].float()


class FrequencyShift(_Augmentation):
    """Shift each spectrogram up by ``0..max_shift`` mel bins; the vacated low bins
    take the clip's minimum (silence)."""

    def __init__(self, max_shift=10, generator=None):
        super().__init__(generator)
        self.max_shift = max_shift

    def apply_random(self, spec):
        n, n_mels, _ = spec.shape
        max_shift = min(int(self.max_shift), n_mels - 1)
        if max_shift < 1:
            return spec
        shifts = torch.randint(0, max_shift + 1, (n,), generator=self.generator).to(spec.device)
        rows = torch.arange(n_mels, device=spec.device)
        source = rows[None, :] - shifts[:, None]  # output row r reads input row r - shift
        valid = (source >= 0)[:, :, None]
        index = source.clamp_min(0)[:, :, None].expand_as(spec)
        shifted = torch.gather(spec, 1, index)
        floor = spec.amin(dim=(1, 2), keepdim=True)
        return torch.where(valid, shifted, floor)


class RandomTimeCrop(_Augmentation):
    """Crop a random ``min_fraction..max_fraction`` of the frames and resize the crop
    back to the original length (linear interpolation): crop + time stretch."""

    def __init__(self, min_fraction=0.6, max_fraction=1.0, generator=None):
        super().__init__(generator)
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction

    def apply_random(self, spec):
        n, n_mels, n_frames = spec.shape
        if n_frames < 2:
            return spec
        fraction = _uniform(n, self.min_fraction, self.max_fraction, self.generator, "cpu")
        start = torch.rand(n, generator=self.generator) * (1 - fraction)
        # Output frame t in [0, 1] reads input position start + t * fraction (normalised).
        t = torch.linspace(0, 1, n_frames)
        position = (start[:, None] + t[None, :] * fraction[:, None]) * (n_frames - 1)
        left = position.floor().long().clamp(0, n_frames - 1)
        right = (left + 1).clamp(max=n_frames - 1)
        w = (position - left).to(spec.device, spec.dtype)[:, None, :]
        left = left.to(spec.device)[:, None, :].expand(n, n_mels, n_frames)
        right = right.to(spec.device)[:, None, :].expand(n, n_mels, n_frames)
        return (1 - w) * torch.gather(spec, 2, left) + w * torch.gather(spec, 2, right)


class PowerGain(_Augmentation):
    """Multiply each spectrogram by a gain ``U(low, high)``."""

    def __init__(self, low=0.75, high=1.0, generator=None):
        super().__init__(generator)
        self.low = low
        self.high = high

    def apply_random(self, spec):
        gain = _uniform(len(spec), self.low, self.high, self.generator, spec.device)
        return spec * gain.to(spec.dtype).view(-1, 1, 1)


class AdditiveNoise(_Augmentation):
    """Add white Gaussian noise with a per-clip ``sigma ~ U(0, max_std)``."""

    def __init__(self, max_std=0.1, generator=None):
        super().__init__(generator)
        self.max_std = max_std

    def apply_random(self, spec):
        sigma = _uniform(len(spec), 0.0, self.max_std, self.generator, "cpu").view(-1, 1, 1)
        noise = torch.randn(spec.shape, generator=self.generator) * sigma
        return spec + noise.to(spec.device, spec.dtype)


class ContrastiveViews(nn.Module):
    """Two augmented views of a batch: ``(batch, ...) -> (2 * batch, ...)``.

    View 1 is ``chain(mix(x))``, view 2 is ``chain(x)`` (Moummad et al. mix one view only,
    which worked best for them). Rows ``i`` and ``batch + i`` are views of clip ``i``.
    In ``eval()`` mode both views are the input itself.

    Parameters
    ----------
    chain : sequence of nn.Module
        Applied in order to both views.
    mix : nn.Module or None
        Applied to the first view only, before the chain.
    """

    def __init__(self, chain=(), mix=None):
        super().__init__()
        self.chain = nn.Sequential(*chain)
        self.mix = mix

    def forward(self, spec):
        first = self.mix(spec) if self.mix is not None else spec
        return torch.cat([self.chain(first), self.chain(spec)], dim=0)


def contrastive_views(*, mix=(5.0, 2.0), max_freq_shift=10, time_crop=(0.6, 1.0),
                   gain=(0.75, 1.0), noise_std=0.1, spec_augment=False, generator=None):
    """The contrastive :class:`ContrastiveViews` of Moummad et al.; pass ``None``/0 to switch a step off.

    Parameters
    ----------
    mix : (float, float) or None
        Beta parameters of :class:`MixWithBatch`.
    max_freq_shift : int
        :class:`FrequencyShift` (0 = off).
    time_crop : (float, float) or None
        Fractions of :class:`RandomTimeCrop`.
    gain : (float, float) or None
        Range of :class:`PowerGain`.
    noise_std : float
        :class:`AdditiveNoise` (0 = off).
    spec_augment : bool
        Append :class:`TimeFrequencyMasking` (time and frequency masks).
    generator : torch.Generator or None
    """
    chain = []
    if max_freq_shift:
        chain.append(FrequencyShift(max_freq_shift, generator=generator))
    if time_crop is not None:
        chain.append(RandomTimeCrop(*time_crop, generator=generator))
    if gain is not None:
        chain.append(PowerGain(*gain, generator=generator))
    if noise_std:
        chain.append(AdditiveNoise(noise_std, generator=generator))
    if spec_augment:
        chain.append(TimeFrequencyMasking(generator=generator))
    mixer = MixWithBatch(*mix, generator=generator) if mix is not None else None
    return ContrastiveViews(chain, mix=mixer)
