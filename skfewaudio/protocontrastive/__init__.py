"""Prototypical meta-training with supervised-contrastive or angular terms.

The method of Sgouropoulos et al., "Prototypical Contrastive Learning For Improved
Few-Shot Audio Classification" (IEEE MLSP 2025).
"""

from ._classifier import ProtoContrastiveClassifier
from ._ensemble import NETWORKS, join_encoders, train_ensemble

__all__ = ["NETWORKS", "ProtoContrastiveClassifier", "join_encoders", "train_ensemble"]
