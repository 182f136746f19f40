"""Statistics over time of a batch of signals (batch, rows, time): the one place both
the fixed features (``skfewaudio.features``, on numpy arrays through
``torch.from_numpy``) and the encoders' texture reads (on feature maps) take them from.
"""

import math

import torch
import torch.nn.functional as F


def mean_std_over_time(signals):
    """Mean, then standard deviation (population), over time of each row: shape
    (batch, 2 * rows)."""
    return torch.cat([signals.mean(dim=2), signals.std(dim=2, correction=0)], dim=1)


def correlations(signals):
    """Correlation over time of each pair of rows: the upper triangle of each
    signal's (rows x rows) correlation matrix, shape (batch, rows * (rows - 1) / 2).

    A row constant over time (silence, a single frame, a map that never fires)
    correlates 0 with every other. "Constant" is relative to the signal's most
    varying row, so that rounding noise on a flat row does not pass for a shape.
    Differentiable everywhere, so an encoder can also train through it.
    """
    centred = signals - signals.mean(dim=2, keepdim=True)
    norm = torch.linalg.vector_norm(centred, dim=2, keepdim=True)
    varies = norm > 1e-8 * norm.amax(dim=1, keepdim=True)
    unit = torch.where(varies, centred / norm.clamp_min(torch.finfo(norm.dtype).tiny), 0.0)
    correlation = unit @ unit.transpose(1, 2)
    upper = torch.triu_indices(signals.shape[1], signals.shape[1], offset=1,
                               device=signals.device)
    return correlation[:, upper[0], upper[1]]


def with_texture(embedding, maps):
    """``embedding`` joined by the texture statistics of the feature ``maps`` (batch,
    maps, freq, time) it was read from: the mean and standard deviation over time of
    each map and frequency row, and the correlations between whole maps over their
    positions. Three parts, each L2-normalised and weighted 1/sqrt(3), so that in a
    cosine similarity each carries a third."""
    parts = [embedding, mean_std_over_time(maps.flatten(1, 2)), correlations(maps.flatten(2))]
    return torch.cat([F.normalize(part, dim=1) for part in parts], dim=1) / math.sqrt(3)
