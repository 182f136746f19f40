"""Prototypical meta-training with supervised-contrastive or angular terms.

The method of Sgouropoulos et al., "Prototypical Contrastive Learning For Improved
Few-Shot Audio Classification" (IEEE MLSP 2025).
"""

from ._classifier import ProtoContrastiveClassifier

__all__ = ["ProtoContrastiveClassifier"]
