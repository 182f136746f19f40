"""Pure torch building blocks: front-end, augmentations, encoders, losses, transport.

Nothing here imports scikit-learn; the estimators wrap these modules.
"""

from .augment import SpecAugment
from .frontend import LogMelSpectrogram

__all__ = ["LogMelSpectrogram", "SpecAugment"]
