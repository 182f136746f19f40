"""Pure torch building blocks: front-end, augmentations, encoders, losses, transport.

Nothing here imports scikit-learn; the estimators wrap these modules.
"""

from .augment import SpecAugment
from .contrastive_augment import (
    AdditiveNoise,
    ContrastiveViews,
    FrequencyShift,
    MixWithBatch,
    PowerGain,
    RandomTimeCrop,
    method_c_views,
)
from .encoders import Conv4Encoder, CRNNEncoder
from .frontend import LogMelSpectrogram
from .fusion import MultiViewEncoder, ViewFusion
from .ot import sinkhorn
from .resnet import ResNetEncoder, resnet_encoder, small_encoder

__all__ = [
    "AdditiveNoise",
    "CRNNEncoder",
    "ContrastiveViews",
    "Conv4Encoder",
    "FrequencyShift",
    "LogMelSpectrogram",
    "MixWithBatch",
    "MultiViewEncoder",
    "PowerGain",
    "RandomTimeCrop",
    "ResNetEncoder",
    "SpecAugment",
    "ViewFusion",
    "method_c_views",
    "resnet_encoder",
    "sinkhorn",
    "small_encoder",
]
