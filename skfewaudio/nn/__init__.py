"""Pure torch building blocks: front-end, augmentations, encoders, heads, losses, transport.

Nothing here imports scikit-learn; the estimators wrap these modules.
"""

from .augment import (
    AdditiveNoise,
    ContrastiveViews,
    FrequencyShift,
    MixWithBatch,
    PowerGain,
    RandomTimeCrop,
    TimeFrequencyMasking,
    contrastive_views,
)
from .encoders import Conv4Encoder, CRNNEncoder
from .frontend import LogMelSpectrogram
from .inference import inference_module
from .fusion import MultiViewEncoder, ViewFusion
from .heads import ContrastiveModel, FineTuneNet, ProjectionHead
from .ot import sinkhorn
from .random_audio_tower import RandomAudioTower
from .resnet import ResNetEncoder, resnet_encoder, small_encoder

__all__ = [
    "AdditiveNoise",
    "CRNNEncoder",
    "ContrastiveModel",
    "ContrastiveViews",
    "Conv4Encoder",
    "FineTuneNet",
    "FrequencyShift",
    "LogMelSpectrogram",
    "MixWithBatch",
    "MultiViewEncoder",
    "PowerGain",
    "ProjectionHead",
    "RandomAudioTower",
    "RandomTimeCrop",
    "ResNetEncoder",
    "TimeFrequencyMasking",
    "ViewFusion",
    "contrastive_views",
    "inference_module",
    "resnet_encoder",
    "sinkhorn",
    "small_encoder",
]
