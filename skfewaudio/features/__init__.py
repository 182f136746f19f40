"""Audio features with no learning: log-mel spectrograms, pooled log-mel and MFCC
statistics, SpecAugment, resampling."""

from ._mel import MelSpectrogram, MelStatistics, build_log_mel
from ._resample import RESAMPLER, resample
from ._specaugment import SpecAugment
from ._spectral import SpectralStatistics

__all__ = ["MelSpectrogram", "MelStatistics", "SpecAugment", "SpectralStatistics",
           "build_log_mel", "resample"]
