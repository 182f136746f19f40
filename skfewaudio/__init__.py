"""skfewaudio: scikit-learn estimators for few-shot audio classification."""

from .datasets import fetch_esc50, load_audio_folder, make_sounds
from .episodes import ClassDisjointSplit, EpisodeSampler, EpisodeScorer, evaluate_episodes
from .features import MelSpectrogram, MelStatistics, SpecAugment
from .prototype import PrototypeClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "ClassDisjointSplit",
    "EpisodeSampler",
    "EpisodeScorer",
    "MelSpectrogram",
    "MelStatistics",
    "PrototypeClassifier",
    "SpecAugment",
    "evaluate_episodes",
    "fetch_esc50",
    "load_audio_folder",
    "make_sounds",
]
