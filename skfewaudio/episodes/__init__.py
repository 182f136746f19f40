"""The few-shot protocol: episode sampling, class-disjoint splits, evaluation, scoring."""

from ._evaluate import EpisodeScorer, cached_episode_accuracies, evaluate_episodes
from ._sampler import ClassDisjointSplit, EpisodeSampler

__all__ = ["ClassDisjointSplit", "EpisodeSampler", "EpisodeScorer",
           "cached_episode_accuracies", "evaluate_episodes"]
