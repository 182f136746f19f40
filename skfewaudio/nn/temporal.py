"""A temporal convolutional encoder: mel bands as input channels, convolutions over time
only (TC-ResNet, Choi et al., Interspeech 2019).

Where the conv-4 and the ResNet slide small kernels over frequency and time, its first
layer sees the whole spectrum of each frame, so it learns spectral templates and their
sequence: a different inductive bias, which is what an ensemble beside 2-D encoders
needs.
"""

import torch
from torch import nn

from ._shapes import strided_shape
from .statistics import with_texture

TEMPORAL_POOLS = ("meanmax", "meanmax+texture")


class TemporalBlock(nn.Module):
    """Two 1-D convolutions over time (BN, ReLU) with a residual shortcut; the first
    convolution (and the shortcut) stride ``stride``."""

    def __init__(self, in_channels, out_channels, *, kernel_size=9, stride=1):
        super().__init__()
        padding = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                      bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding, bias=False),
            nn.BatchNorm1d(out_channels),
        )
        self.shortcut = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm1d(out_channels),
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activation(self.body(x) + self.shortcut(x))


class TemporalConvEncoder(nn.Module):
    """Mel bands as channels, residual 1-D convolutions over time, mean and max over time.

    Parameters
    ----------
    n_mels : int, default=128
        Mel bands of the input (the first layer's input channels).
    n_maps : int, default=32
        Width unit: a first convolution of ``2 n_maps`` maps, then residual blocks of
        ``2 n_maps``, ``3 n_maps`` and ``4 n_maps`` maps.
    kernel_size : int, default=9
        Time steps each block's convolutions see (TC-ResNet's 9).
    in_stride : int, default=2
        Time stride of the first convolution; the second and third blocks stride 2
        more, so a 157-frame window ends as 20 steps.
    pool : {"meanmax", "meanmax+texture"}, default="meanmax"
        ``meanmax``: the mean and the max over time of each of the last block's maps
        (``8 n_maps`` dims). ``meanmax+texture``: joined by the texture statistics of
        that map (:func:`~skfewaudio.nn.statistics.with_texture`: its spread over time
        and the correlations between maps); no weights, so a network trained with
        ``meanmax`` can embed with it.

    Input ``(batch, n_mels, n_frames)`` or ``(batch, 1, n_mels, n_frames)``; output
    ``(batch, n_features)``.
    """

    def __init__(self, n_mels=128, n_maps=32, *, kernel_size=9, in_stride=2, pool="meanmax"):
        super().__init__()
        if pool not in TEMPORAL_POOLS:
            raise ValueError(f"pool must be one of {TEMPORAL_POOLS}, got {pool!r}.")
        self.pool = pool
        widths = (2 * n_maps, 2 * n_maps, 3 * n_maps, 4 * n_maps)
        # Each frame's spectrum on its own scale: log-mel levels differ by band.
        self.stem = nn.Sequential(
            nn.BatchNorm1d(n_mels),
            nn.Conv1d(n_mels, widths[0], 3, stride=in_stride, padding=1, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(
            TemporalBlock(w_in, w_out, kernel_size=kernel_size, stride=1 if i == 0 else 2)
            for i, (w_in, w_out) in enumerate(zip(widths, widths[1:]))
        ))

    def forward(self, spec):
        frames = spec.flatten(1, 2) if spec.dim() == 4 else spec  # (batch, n_mels, time)
        maps = self.blocks(self.stem(frames))  # (batch, maps, time)
        embedding = torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)
        if self.pool == "meanmax+texture":
            return with_texture(embedding, maps.unsqueeze(2))
        return embedding

    def map_shape(self, n_mels, n_frames):
        """(1, time steps) of the last block's map for an input of that size: one row,
        the maps being whole-spectrum features."""
        convs = [self.stem[1]] + [block.body[0] for block in self.blocks]
        shape = (1, n_frames)
        for conv in convs:  # padding k // 2 and odd kernels: ceil(n / stride) steps
            shape = strided_shape(shape, (1, conv.stride[0]))
        return shape
