"""Spectrogram encoders of MetaAudio: the conv-4 network and the CRNN "hybrid" (and, by
name, the small ResNet of :mod:`.resnet`).

Both take log-mel spectrograms of shape ``(batch, n_mels, n_frames)`` (or with a
channel axis, ``(batch, 1, n_mels, n_frames)``) and return one embedding per input.
"""

import math

import torch
from torch import nn

from ._shapes import strided_shape
from .resnet import small_encoder
from .statistics import mean_std_over_time, with_texture

CONV4_POOLS = ("flatten", "mean", "meanmax", "flatten+stats", "flatten+texture")


def conv_block(in_channels, out_channels, pool=(2, 2)):
    """3x3 convolution, batch norm, ReLU, max-pool: the unit of MetaAudio's conv-4."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool, ceil_mode=True),
    )


def _with_channel(spec):
    return spec.unsqueeze(1) if spec.dim() == 3 else spec


class Conv4Encoder(nn.Module):
    """MetaAudio's conv-4: ``n_blocks`` blocks of 3x3 conv (``n_maps`` maps), BN, ReLU,
    2x2 max-pool.

    Parameters
    ----------
    n_maps : int, default=64
        Feature maps of every block (MetaAudio: 64).
    n_blocks : int, default=4
    pool : {"flatten", "mean", "meanmax", "flatten+stats", "flatten+texture"}, \
default="flatten"
        How the last feature map becomes a vector: ``flatten`` (MetaAudio; the
        dimension then depends on the input size, 64 x 8 x 10 = 5120 for 128 x 157),
        ``mean`` (global average, ``n_maps`` dims, any input size), ``meanmax``
        (mean over time of the frequency-flattened map plus its max: fixed size for
        a fixed ``n_mels``) or ``flatten+stats``: the flattened map divided by the
        square root of its time steps, then the mean and standard deviation over
        time of each map and frequency row. The two halves then have the same norm,
        so in a cosine similarity the position-bound map and its shift-invariant
        summary weigh alike. ``flatten+texture``: three parts, each L2-normalised
        and weighted 1/sqrt(3): the flattened map, those statistics, and the
        correlations between maps over the map's positions (mel rows x time steps;
        the upper triangle), a texture statistic in the sense of McDermott &
        Simoncelli (2011) and Gatys et al. (2015); they need a map of enough
        positions (16 or more) to be more than noise. Neither adds weights, so a
        network trained with ``flatten`` can embed with them
        (``ProtoContrastiveClassifier(test_time_pool=...)``).
    in_stride : int, default=1
        Stride of the first convolution; 2 quarters the compute of a 128-mel input
        at some cost in resolution (useful on CPU).

    Input ``(batch, n_mels, n_frames)``; output ``(batch, n_features)``.
    """

    def __init__(self, n_maps=64, n_blocks=4, pool="flatten", in_stride=1):
        super().__init__()
        if pool not in CONV4_POOLS:
            raise ValueError(f"pool must be one of {CONV4_POOLS}, got {pool!r}.")
        blocks = [conv_block(1, n_maps)]
        blocks += [conv_block(n_maps, n_maps) for _ in range(n_blocks - 1)]
        if in_stride != 1:
            blocks[0][0].stride = (in_stride, in_stride)
        self.blocks = nn.Sequential(*blocks)
        self.pool = pool

    def forward(self, spec):
        maps = self.blocks(_with_channel(spec))  # (batch, maps, freq, time)
        rows = maps.flatten(1, 2)  # (batch, maps * freq, time)
        if self.pool == "mean":
            return maps.mean(dim=(2, 3))
        if self.pool == "meanmax":
            return torch.cat([rows.mean(dim=2), rows.amax(dim=2)], dim=1)
        if self.pool == "flatten+stats":
            # |flatten / sqrt(T)|^2 = |mean|^2 + |std|^2 over time: equal halves.
            return torch.cat([maps.flatten(1) / math.sqrt(maps.shape[3]),
                              mean_std_over_time(rows)], dim=1)
        if self.pool == "flatten+texture":
            return with_texture(maps.flatten(1), maps)
        return maps.flatten(1)

    def map_shape(self, n_mels, n_frames):
        """(mel rows, time steps) of the last feature map for an input of that size."""
        shape = (n_mels, n_frames)
        for block in self.blocks:
            conv, pool = block[0], block[-1]  # ceil-mode pooling, "same" convolutions
            shape = strided_shape(strided_shape(shape, conv.stride), pool.stride)
        return shape


class CRNNEncoder(nn.Module):
    """MetaAudio's CRNN "hybrid": conv blocks, then an LSTM over the time axis.

    The convolutional blocks pool frequency and time; each remaining time step
    (channels x frequency) is a vector for a one-layer LSTM, whose last hidden state
    is the embedding.

    Parameters
    ----------
    n_maps : int, default=64
    n_blocks : int, default=4
    hidden_size : int, default=128
    n_mels : int, default=128
        Mel bands of the input (fixes the LSTM input size).
    bidirectional : bool, default=False
        Concatenate the last states of both directions.
    in_stride : int, default=1
        Stride of the first convolution (see :class:`Conv4Encoder`).

    Input ``(batch, n_mels, n_frames)``; output ``(batch, hidden_size * n_directions)``.
    """

    def __init__(self, n_maps=64, n_blocks=4, hidden_size=128, n_mels=128, bidirectional=False,
                 in_stride=1):
        super().__init__()
        self.blocks = nn.Sequential(
            conv_block(1, n_maps), *[conv_block(n_maps, n_maps) for _ in range(n_blocks - 1)]
        )
        self.blocks[0][0].stride = (in_stride, in_stride)
        freq = -(-n_mels // in_stride)
        for _ in range(n_blocks):
            freq = -(-freq // 2)  # ceil_mode pooling
        self.rnn = nn.LSTM(n_maps * freq, hidden_size, batch_first=True,
                           bidirectional=bidirectional)

    def forward(self, spec):
        maps = self.blocks(_with_channel(spec))  # (batch, maps, freq, time)
        steps = maps.flatten(1, 2).transpose(1, 2)  # (batch, time, maps * freq)
        _, (hidden, _) = self.rnn(steps.float())
        return hidden.transpose(0, 1).flatten(1)  # (batch, n_directions * hidden)


def build_encoder(name, *, n_mels=128, **kwargs):
    """An encoder by name: ``"conv4"``, ``"crnn"`` or ``"resnet"`` (keyword arguments
    passed on)."""
    if name == "conv4":
        return Conv4Encoder(**kwargs)
    if name == "crnn":
        return CRNNEncoder(n_mels=n_mels, **kwargs)
    if name == "resnet":
        return small_encoder(**kwargs)
    raise ValueError(f"encoder must be 'conv4', 'crnn', 'resnet' or a torch module, "
                     f"got {name!r}.")
