"""Spectrogram augmentations as torch modules; they act only in training mode."""

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


class SpecAugment(nn.Module):
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
