"""Small torch helpers shared by the estimators (device choice, seeding, batching)."""

import numpy as np
import torch
from sklearn.utils import check_random_state


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` when available, else ``"cpu"``; check the rest."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but torch sees no CUDA GPU.")
    return str(device)


def torch_seed(random_state):
    """An int seed for torch drawn from ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def make_generator(random_state):
    """A CPU ``torch.Generator`` seeded from ``random_state``."""
    generator = torch.Generator()
    generator.manual_seed(torch_seed(random_state))
    return generator


def pad_or_crop(waveforms, n_samples):
    """Stack clips into ``(n_clips, n_samples)``: longer ones keep their start, shorter
    ones are zero-padded at the end."""
    out = np.zeros((len(waveforms), n_samples), dtype=np.float32)
    for i, clip in enumerate(waveforms):
        clip = clip[:n_samples]
        out[i, : len(clip)] = clip
    return out


def length_groups(waveforms):
    """Indices of clips grouped by length, so each group stacks without padding."""
    if isinstance(waveforms, np.ndarray):
        return [np.arange(len(waveforms))]
    lengths = np.array([len(clip) for clip in waveforms])
    return [np.flatnonzero(lengths == n) for n in np.unique(lengths)]
