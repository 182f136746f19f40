"""Losses, one per file, each ``forward(embeddings, labels)`` (pytorch-metric-learning style)."""

__all__ = []
