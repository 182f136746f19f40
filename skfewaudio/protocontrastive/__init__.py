"""Prototypical meta-training with supervised-contrastive or angular terms (method A)."""

from ._classifier import ProtoContrastiveClassifier

__all__ = ["ProtoContrastiveClassifier"]
