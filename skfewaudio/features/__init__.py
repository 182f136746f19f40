"""Audio features with no learning: log-mel spectrograms, pooled statistics,
SpecAugment, resampling."""

from ._mel import MelSpectrogram, MelStatistics, build_log_mel
from ._resample import RESAMPLER, resample
from ._specaugment import SpecAugment

__all__ = ["MelSpectrogram", "MelStatistics", "SpecAugment", "build_log_mel", "resample"]
