"""Data: synthetic sound classes, audio folders, and the ESC-50 fetcher."""

from ._esc50 import fetch_esc50, get_data_home
from ._folder import load_audio_folder
from ._synthetic import make_sounds

__all__ = ["fetch_esc50", "get_data_home", "load_audio_folder", "make_sounds"]
