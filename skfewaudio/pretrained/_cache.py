"""An on-disk store of clip embeddings, so a large model embeds each clip once.

Format (plain files, readable without skfewaudio)::

    <directory>/
        <settings key>/              16 hex digits: hash of the model and its settings
            settings.json            those settings, for people (model id and commit, or
                                     the folder's content hash; layer, pooling, window...)
            <ab>/<clip key>.npy      one clip's float32 embedding, shape (n_features,);
                                     <ab> are the first two hex digits of the clip key

The clip key is the BLAKE2b hash of the clip's float32 samples and its sample rate, so
the same audio hits the cache whatever its file name, order or episode. Files are
written to a temporary name and renamed, so parallel workers (joblib, xdist) never
read half an embedding. Deleting the directory empties the cache.

Why not ``joblib.Memory``: it caches whole function calls keyed by all their
arguments, so a new combination of known clips (the next episode, a support set plus
new queries) would miss; this store is keyed by clip.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingCache", "clip_key"]

FORMAT_VERSION = 1


def _digest(data, size):
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def clip_key(clip, sample_rate):
    """Hash of a clip's float32 samples and its sample rate (32 hex digits)."""
    samples = np.ascontiguousarray(clip, dtype=np.float32)
    return _digest(samples.tobytes() + np.int64(sample_rate).tobytes(), 16)


class EmbeddingCache:
    """Embeddings of one model with one set of settings, stored under ``directory``.

    Parameters
    ----------
    directory : path-like
        Root of the cache (shared by all models and settings).
    settings : dict
        JSON-serialisable description of everything the embedding depends on besides
        the audio (model identity, layer, pooling, window, ...).
    """

    def __init__(self, directory, settings):
        self.settings = {"format": FORMAT_VERSION, **settings}
        text = json.dumps(self.settings, sort_keys=True)
        self.folder = Path(directory).expanduser() / _digest(text.encode(), 8)
        self._text = text

    def _path(self, key):
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key):
        """The stored embedding of ``key``, or None."""
        try:
            return np.load(self._path(key))
        except (FileNotFoundError, ValueError, EOFError):  # missing, or cut short by a crash
            return None

    def put(self, key, embedding):
        """Store one embedding (float32), atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        settings = self.folder / "settings.json"
        if not settings.exists():
            self._write(settings, lambda handle: handle.write(self._text.encode()))
        self._write(path, lambda handle: np.save(handle, np.asarray(embedding, np.float32)))

    @staticmethod
    def _write(path, write):
        handle = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
        try:
            with handle:
                write(handle)
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise

    def __len__(self):
        return sum(1 for _ in self.folder.glob("??/*.npy"))

    def __repr__(self):
        return f"EmbeddingCache({str(self.folder)!r})"
