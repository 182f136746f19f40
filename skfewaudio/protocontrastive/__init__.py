"""Prototypical meta-training with supervised-contrastive or angular terms (Sgouropoulos et al., MLSP 2025)."""

from ._classifier import ProtoContrastiveClassifier

__all__ = ["ProtoContrastiveClassifier"]
