"""Small torch helpers shared by the estimators (device choice, seeding, batching)."""

import re

import numpy as np
import torch
from sklearn.utils import check_random_state


def resolve_device(device):
    """The one device rule of skfewaudio: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    ``"auto"`` is ``"cuda"`` when torch sees a GPU, else ``"cpu"``. A CUDA device that
    this machine does not have is an error, never a silent fall-back to the CPU.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", str(device))
    if device != "cpu" and match is None:
        raise ValueError(
            f"device must be 'cpu', 'cuda', 'cuda:N' (a GPU index) or 'auto', got {device!r}."
        )
    if match is not None:
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but torch sees no CUDA GPU; "
                             "use device='cpu' or 'auto'.")
        index = int(match.group(1) or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but torch sees only "
                             f"{torch.cuda.device_count()} GPU(s) (cuda:0 ...).")
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
    ones are zero-padded at the end. A float32 array already of that length is
    returned as it is, uncopied."""
    if (isinstance(waveforms, np.ndarray) and waveforms.dtype == np.float32
            and waveforms.ndim == 2 and waveforms.shape[1] == n_samples):
        return waveforms
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


def output_dim(module, input_shape):
    """Size of ``module``'s output for one zero input of ``input_shape`` (no batch
    axis), computed in eval mode without touching its training state."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.zeros((2,) + tuple(input_shape)))
    module.train(was_training)
    return int(out.reshape(2, -1).shape[1])
