"""A copy of a trained module arranged for fast inference on the same outputs."""

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def inference_module(module, *, fold_batch_norm=True, channels_last=True):
    """An eval-mode copy of ``module`` that computes the same function faster.

    Parameters
    ----------
    module : nn.Module
        Left untouched (training can go on with it).
    fold_batch_norm : bool, default=True
        Fold each ``BatchNorm2d`` that directly follows a ``Conv2d`` inside an
        ``nn.Sequential`` into the convolution's weights and bias: one pass over the
        feature map fewer per layer, the outputs equal up to rounding. Then each
        submodule with a ``fuse_for_inference()`` method is asked to merge what the
        folding made mergeable (a residual block's 1x1 shortcut into its 3x3
        convolution, :meth:`~skfewaudio.nn.resnet.ResidualBlock.fuse_for_inference`).
    channels_last : bool, default=True
        Store 4-D weights in NHWC, the layout oneDNN's CPU convolutions run fastest;
        feed inputs in that layout too.

    Returns
    -------
    module : nn.Module
        A deep copy, in eval mode.
    """
    fast = copy.deepcopy(module).eval()
    if fold_batch_norm:
        for sequence in [m for m in fast.modules() if isinstance(m, nn.Sequential)]:
            _fold_in(sequence)
        # Modules that know a cheaper equivalent once their batch norms are folded.
        for part in [m for m in fast.modules() if hasattr(m, "fuse_for_inference")]:
            part.fuse_for_inference()
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    return fast


def _fold_in(sequence):
    """Fold conv -> batch-norm pairs of one ``nn.Sequential`` in place."""
    for i in range(len(sequence) - 1):
        conv, norm = sequence[i], sequence[i + 1]
        if (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
                and norm.track_running_stats):
            sequence[i] = fuse_conv_bn_eval(conv, norm)
            sequence[i + 1] = nn.Identity()
