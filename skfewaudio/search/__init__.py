"""Search a corpus of long recordings by example.

:class:`EmbeddingStore` embeds timed windows of many recordings once, keeps them on
disk in a documented format that can be reopened and appended to, and returns the
windows most like a few example clips, by an exact scan or an approximate FAISS HNSW
index (``pip install skfewaudio[search]``). :func:`embed_recording` embeds one
recording's windows.
"""

from .._windows import window_starts
from ._corpus import embed_recording
from ._store import EmbeddingStore

__all__ = ["EmbeddingStore", "embed_recording", "window_starts"]
