"""skfewaudio: scikit-learn estimators for few-shot audio classification."""

from ._persistence import load, save
from .active import rank_for_labelling
from .clap import MultiGrainedCLAPAdapter
from .datasets import fetch_esc50, load_audio_folder, make_sounds
from .detection import FewShotEventDetector, event_f_measure, read_events_csv, write_events_csv
from .episodes import ClassDisjointSplit, EpisodeSampler, EpisodeScorer, evaluate_episodes
from .features import MelSpectrogram, MelStatistics, SpecAugment, SpectralStatistics
from .linear_probe import LinearProbeClassifier
from .pretrained import PretrainedEncoder
from .protocontrastive import ProtoContrastiveClassifier
from .prototype import PrototypeClassifier
from .supcon import FineTuneClassifier, SupConPretrainer
from .whitening import WithinClassWhitening

__version__ = "0.1.0.dev0"

__all__ = [
    "ClassDisjointSplit",
    "EpisodeSampler",
    "EpisodeScorer",
    "FewShotEventDetector",
    "FineTuneClassifier",
    "LinearProbeClassifier",
    "MelSpectrogram",
    "MelStatistics",
    "MultiGrainedCLAPAdapter",
    "PretrainedEncoder",
    "ProtoContrastiveClassifier",
    "PrototypeClassifier",
    "SpecAugment",
    "SpectralStatistics",
    "SupConPretrainer",
    "WithinClassWhitening",
    "evaluate_episodes",
    "event_f_measure",
    "fetch_esc50",
    "load",
    "load_audio_folder",
    "make_sounds",
    "rank_for_labelling",
    "read_events_csv",
    "save",
    "write_events_csv",
]
