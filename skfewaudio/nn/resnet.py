"""Convolutional spectrogram encoders for contrastive pre-training (Moummad et al., DCASE 2023).

Input spectrograms are ``(batch, 1, n_mels, n_frames)`` (or without the channel
axis); embeddings are
``(batch, channels[-1] * output_size[0] * output_size[1])``.

* :func:`resnet_encoder`: Moummad et al.'s ResNet, 3 residual blocks of 3 convolutions
  (64, 128, 256 maps), each convolution followed by batch norm and LeakyReLU(0.1),
  max-pooling 2x2, 2x2 and 1x2 (the last block pools time only, to keep frequency
  detail), then an adaptive max-pool to (8, 1): 8 * 256 = 2048-d.
* :func:`small_encoder`: the same design after a 2x2 max-pool of the input, 16/32/64
  maps and one convolution per block, about 380 times fewer multiply-adds: for
  training on a CPU.
"""

import torch
from torch import nn

from ._shapes import strided_shape
from .statistics import with_texture

RESNET_POOLS = ("max", "max+texture")


class ResidualBlock(nn.Module):
    """``n_convs`` 3x3 convolutions (BN, LeakyReLU 0.1) with a residual shortcut,
    then max-pooling."""

    def __init__(self, in_channels, out_channels, *, n_convs=3, pool=(2, 2), slope=0.1):
        super().__init__()
        layers = []
        for i in range(n_convs):
            layers.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels,
                                    kernel_size=3, padding=1, bias=False))
            layers.append(nn.BatchNorm2d(out_channels))
            if i < n_convs - 1:
                layers.append(nn.LeakyReLU(slope))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.activation = nn.LeakyReLU(slope)
        # ceil_mode: a size-1 axis stays 1 instead of vanishing, so short windows work.
        self.pool = (nn.MaxPool2d(pool, ceil_mode=True) if tuple(pool) != (1, 1)
                     else nn.Identity())

    def forward(self, x):
        y = self.body(x)
        if self.shortcut is not None:  # None once merged into the body
            y = y + self.shortcut(x)
        return self.pool(self.activation(y))

    def fuse_for_inference(self):
        """Merge the 1x1 shortcut into the body when the body is one 3x3 convolution.

        Called by :func:`~skfewaudio.nn.inference_module` once the batch norms are
        folded: both branches are then linear in ``x``, so their sum is a single 3x3
        convolution whose centre tap also holds the 1x1 weights (RepVGG's
        re-parameterisation). Same outputs up to rounding, one convolution and one
        addition fewer; a 1x1 convolution from one input channel (the first block's
        shortcut) is one of oneDNN's slow cases. A body of several convolutions, with
        activations between them, is left as it is.
        """
        if self.shortcut is None:  # merged already (a copy of an inference copy)
            return
        body = [m for m in self.body if not isinstance(m, nn.Identity)]
        shortcut = [m for m in self.shortcut if not isinstance(m, nn.Identity)]
        if not (len(body) == len(shortcut) == 1
                and all(isinstance(m, nn.Conv2d) for m in body + shortcut)):
            return
        (conv,), (skip,) = body, shortcut
        merged = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=3, padding=1,
                           device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(conv.weight)
            merged.weight[:, :, 1, 1] += skip.weight[:, :, 0, 0]
            merged.bias.copy_(_bias(conv) + _bias(skip))
        self.body, self.shortcut = nn.Sequential(merged), None


def _bias(conv):
    return conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)


class ResNetEncoder(nn.Module):
    """Stack of :class:`ResidualBlock` ending in an adaptive max-pool.

    Parameters
    ----------
    channels : sequence of int, default=(64, 128, 256)
        Feature maps of each block.
    n_convs : int, default=3
        Convolutions per block.
    pools : sequence of (int, int), default=((2, 2), (2, 2), (1, 2))
        Max-pool size (frequency, time) after each block.
    output_size : (int, int), default=(8, 1)
        Adaptive max-pool output (frequency, time); time 1 makes the embedding
        independent of the clip length.
    input_pool : (int, int) or None, default=None
        Max-pool the input spectrogram first (cheaper, coarser encoder).
    pool : {"max", "max+texture"}, default="max"
        ``max``: the adaptive max-pool's output. ``max+texture``: that output joined by
        the texture statistics of the last block's map (mean and spread over time of
        each map and frequency row, correlations between maps;
        :func:`~skfewaudio.nn.statistics.with_texture`); it adds no weights, so a
        network trained with ``max`` can embed with it.

    Attributes
    ----------
    blocks : nn.ModuleList
        The residual blocks, first to last (fine-tuning unfreezes the last ones).
    embedding_dim : int
    """

    def __init__(self, channels=(64, 128, 256), *, n_convs=3,
                 pools=((2, 2), (2, 2), (1, 2)), output_size=(8, 1), input_pool=None,
                 pool="max"):
        super().__init__()
        if pool not in RESNET_POOLS:
            raise ValueError(f"pool must be one of {RESNET_POOLS}, got {pool!r}.")
        self.pool = pool
        self.input_pool = (nn.MaxPool2d(tuple(input_pool), ceil_mode=True) if input_pool
                           else nn.Identity())
        if len(pools) != len(channels):
            raise ValueError("give one pool size per block (len(pools) == len(channels)).")
        ins = (1,) + tuple(channels[:-1])
        self.blocks = nn.ModuleList(
            ResidualBlock(i, o, n_convs=n_convs, pool=p) for i, o, p in zip(ins, channels, pools)
        )
        self.head_pool = nn.AdaptiveMaxPool2d(tuple(output_size))
        self.embedding_dim = int(channels[-1] * output_size[0] * output_size[1])

    def forward(self, spec):
        """(batch, 1, n_mels, n_frames) or (batch, n_mels, n_frames) -> (batch, embedding_dim)."""
        x = self.input_pool(spec.unsqueeze(1) if spec.dim() == 3 else spec)
        for block in self.blocks:
            x = block(x)
        embedding = torch.flatten(self.head_pool(x), 1)
        return with_texture(embedding, x) if self.pool == "max+texture" else embedding

    def map_shape(self, n_mels, n_frames):
        """(frequency rows, time steps) of the last block's map for an input of that
        size."""
        shape = (n_mels, n_frames)
        pools = [self.input_pool] + [block.pool for block in self.blocks]
        for pool in pools:
            if isinstance(pool, nn.MaxPool2d):  # ceil mode, as every pool here
                shape = strided_shape(shape, pool.stride)
        return shape


def resnet_encoder():
    """Moummad et al.'s encoder: 64/128/256 maps, 3 convolutions per block, 2048-d."""
    return ResNetEncoder((64, 128, 256), n_convs=3, pools=((2, 2), (2, 2), (1, 2)))


def small_encoder(n_maps=32, in_stride=2, **kwargs):
    """A fast CPU encoder sized like the conv-4: the input max-pooled ``in_stride`` x
    ``in_stride``, blocks of ``n_maps / 2``, ``n_maps`` and ``2 n_maps`` maps (16/32/64),
    one convolution each, 512-d at the defaults (keyword arguments passed on)."""
    pool = (in_stride, in_stride) if in_stride > 1 else None
    return ResNetEncoder((max(n_maps // 2, 1), n_maps, 2 * n_maps), n_convs=1,
                         pools=((2, 2), (2, 2), (1, 2)), input_pool=pool, **kwargs)
