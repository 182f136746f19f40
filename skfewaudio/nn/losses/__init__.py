"""Losses, one per file, each ``forward(embeddings, labels)`` (pytorch-metric-learning style)."""

from .angular_contrastive import AngularContrastiveLoss, AngularMarginLoss
from .prototypical import ProtoContrastiveLoss, PrototypicalLoss

__all__ = ["AngularContrastiveLoss", "AngularMarginLoss", "ProtoContrastiveLoss",
           "PrototypicalLoss"]
