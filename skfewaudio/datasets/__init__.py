"""Data: synthetic sound classes, audio folders, and the ESC-50 fetcher."""

from ._synthetic import make_sounds

__all__ = ["make_sounds"]
