"""Losses, one per file, each ``forward(embeddings, labels)`` (pytorch-metric-learning style).

The episodic losses also take ``n_support``: the first rows of an episode batch are
its support set.
"""

from .angular_contrastive import AngularContrastiveLoss
from .angular_margin import AngularMarginLoss
from .proto_contrastive import ProtoContrastiveLoss
from .prototypical import PrototypicalLoss

__all__ = ["AngularContrastiveLoss", "AngularMarginLoss", "ProtoContrastiveLoss",
           "PrototypicalLoss"]
