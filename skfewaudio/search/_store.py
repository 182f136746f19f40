"""Window embeddings of a corpus, stored on disk, searched by example clips."""

import importlib
import json
import os
from functools import partial
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from .._prototypes import as_2d_embedding, normalize
from .._validation import check_waveforms, each_warning_once
from . import _index
from ..datasets._folder import counted, report_unreadable
from ._corpus import (LEARNING_FREE, UnreadableRecording, embed_recording, is_learning_free,
                      ready_encoder)

FORMAT, VERSION = "skfewaudio-embedding-store", 1
WINDOW_DTYPE = np.dtype([("file", "<u4"), ("start", "<f8"), ("end", "<f8")])
EMBEDDING_DTYPE = np.dtype("<f4")
_HEADER, _EMBEDDINGS, _WINDOWS = "header.json", "embeddings.f32", "windows.bin"


class EmbeddingStore:
    """Embeddings of timed windows of many recordings, on disk, to search by example.

    Embed a folder of long recordings once (:meth:`add_recordings`), reopen it later
    (:meth:`open`), append new recordings, and find the windows most like a few
    example clips (:meth:`search`), exactly or through an approximate HNSW index.
    Create one with :meth:`create` or :meth:`open`, not with the constructor.

    **Format** (version 1): a directory holding

    * ``header.json``: format name and version, ``sample_rate``, ``window_seconds``,
      ``hop_seconds``, ``dim``, ``n_windows``, the ``encoder`` (class, parameters when
      they are JSON, ``repr``), ``sum`` (the float64 sum of all embeddings, whose mean
      centres vectors for cosine search) and ``files`` (``path``, ``duration``,
      ``first_window``, ``n_windows`` of each recording, in order).
    * ``embeddings.f32``: float32 little-endian, row-major, shape
      ``(n_windows, dim)``: ``np.memmap(path, dtype="<f4", mode="r").reshape(-1, dim)``.
    * ``windows.bin``: one record per window, dtype ``[("file", "<u4"),
      ("start", "<f8"), ("end", "<f8")]`` (index into ``files``, seconds).
    * ``index.faiss`` and ``index.json``, once an approximate index was built.

    Appending writes the two data files first and then replaces ``header.json``
    atomically; ``n_windows`` in the header is authoritative, so rows beyond it (from
    an interrupted append) are ignored and overwritten by the next append.

    Windows start every ``hop_seconds``; one more window ends at the last sample so
    the end of each recording is covered; a recording shorter than a window is
    embedded whole as one window.
    """

    def __init__(self, path, header, encoder):
        self.path = Path(path)
        self.header = header
        self.encoder = encoder
        self._searcher = None  # the HNSW index, once loaded

    # ------------------------------------------------------------ creating
    @classmethod
    def create(cls, path, encoder=None, *, sample_rate=16000, window_seconds=1.0,
               hop_seconds=None):
        """Start an empty store in a new (or empty) directory.

        Parameters
        ----------
        path : str or Path
        encoder : fitted transformer or None, default=None
            Maps a batch of windows ``(n_windows, n_samples)`` to embeddings. ``None``
            uses :class:`~skfewaudio.SpectralStatistics` (no learning), the default
            encoder of the few-shot classifiers. A trained model, e.g. a fitted
            ``ProtoContrastiveClassifier``, must be given again to :meth:`open`;
            learning-free encoders are rebuilt from the header.
        sample_rate : int, default=16000
            Recordings are resampled to this rate.
        window_seconds : float, default=1.0
        hop_seconds : float or None, default=None
            ``None`` is half a window.

        Returns
        -------
        store : EmbeddingStore
        """
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} is not empty; open it with EmbeddingStore.open, "
                                  "or choose a new directory.")
        if window_seconds <= 0 or (hop_seconds is not None and hop_seconds <= 0):
            raise ValueError("window_seconds and hop_seconds must be positive.")
        encoder = ready_encoder(encoder, sample_rate)
        header = {
            "format": FORMAT, "version": VERSION, "sample_rate": int(sample_rate),
            "window_seconds": float(window_seconds),
            "hop_seconds": float(hop_seconds or window_seconds / 2),
            "dim": None, "n_windows": 0, "encoder": describe_encoder(encoder), "sum": None,
            "files": [],
        }
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path, header, encoder)
        store._write_header()
        return store

    @classmethod
    def open(cls, path, *, encoder=None):
        """Reopen a store.

        Parameters
        ----------
        path : str or Path
        encoder : fitted transformer or None, default=None
            The encoder the store was made with; ``None`` rebuilds it from the header,
            which works for learning-free encoders (the default one).

        Returns
        -------
        store : EmbeddingStore
        """
        path = Path(path)
        try:
            header = json.loads((path / _HEADER).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} holds no embedding store ({_HEADER} is "
                                    "missing); make one with EmbeddingStore.create.") from None
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ValueError(f"{path / _HEADER} is not a {FORMAT} of version {VERSION}.")
        made_with = header["encoder"]
        if encoder is None:
            encoder = _rebuild_encoder(made_with, path)
        elif describe_encoder(encoder)["repr"] != made_with["repr"]:
            raise ValueError(f"{path} was embedded with {made_with['repr']}, not with "
                             f"{describe_encoder(encoder)['repr']}; pass the same encoder.")
        return cls(path, header, ready_encoder(encoder, header["sample_rate"]))

    # ------------------------------------------------------------ contents
    @property
    def n_windows(self):
        return self.header["n_windows"]

    @property
    def files(self):
        """Paths of the recordings, in the order they were added."""
        return [entry["path"] for entry in self.header["files"]]

    @property
    def embeddings(self):
        """Read-only memory map of shape (n_windows, dim), float32."""
        if self.n_windows == 0:
            return np.empty((0, self.header["dim"] or 0), dtype=np.float32)
        return np.memmap(self.path / _EMBEDDINGS, dtype=EMBEDDING_DTYPE, mode="r",
                         shape=(self.n_windows, self.header["dim"]))

    @property
    def windows(self):
        """Read-only memory map of records (file, start, end), shape (n_windows,)."""
        if self.n_windows == 0:
            return np.empty(0, dtype=WINDOW_DTYPE)
        return np.memmap(self.path / _WINDOWS, dtype=WINDOW_DTYPE, mode="r",
                         shape=(self.n_windows,))

    def center(self):
        """Mean embedding of the store: subtracted before cosine similarities."""
        return np.asarray(self.header["sum"]) / max(1, self.n_windows)

    # ------------------------------------------------------------ adding
    def add_recordings(self, sources, *, n_jobs=None, batch_size=256, on_error="raise",
                       progress=False):
        """Embed recordings not yet in the store and append them, in the order given.

        Files are embedded in parallel with joblib (``n_jobs``), so that inside
        ``with joblib.parallel_config(backend="dask"):`` they are embedded on a Dask
        cluster; the store is written by this process only, in order, so the result
        does not depend on ``n_jobs``.

        A file that cannot be read (or holds no samples) does not stop the others:
        every readable one is added first, then one error (``on_error="raise"``) or
        one warning (``"warn"``) lists each file not read and why. The next call
        tries those files again.

        Parameters
        ----------
        sources : iterable of str or PathLike
            Sound files. Those already in the store (same resolved path) are skipped.
        n_jobs : int or None, default=None
        batch_size : int, default=256
            Windows per call of the encoder.
        on_error : {"raise", "warn"}, default="raise"
        progress : bool, default=False
            Show a progress bar.

        Returns
        -------
        n_added : int
            Recordings added.
        """
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}.")
        known = set(self.files)
        new = [p for p in dict.fromkeys(str(Path(s).resolve()) for s in sources)
               if p not in known]
        settings = {key: self.header[key] for key in ("sample_rate", "window_seconds",
                                                      "hop_seconds")}
        jobs = (delayed(_embed_readable)(path, self.encoder, batch_size=batch_size, **settings)
                for path in new)
        results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
        failures = []
        with each_warning_once(stacklevel=4):  # at the caller of the store
            for path, result in tqdm(zip(new, results), total=len(new), disable=not progress,
                                     desc="embedding", unit="file"):
                if isinstance(result, UnreadableRecording):
                    failures.append(str(result))
                    continue
                starts, ends, embeddings, duration = result
                self.add_embeddings(path, starts, ends, embeddings, duration=duration)
        n_added = len(new) - len(failures)
        note = (f"Added to {self.path}: the other {counted(n_added, 'recording')}."
                if n_added else "")
        report_unreadable(failures, "to embed", on_error, note=note, stacklevel=3)
        return n_added

    def add_embeddings(self, file, starts, ends, embeddings, *, duration=None):
        """Append the windows of one recording, already embedded.

        Parameters
        ----------
        file : str or PathLike
            Name of the recording (stored as given).
        starts, ends : array-like of shape (n_windows,)
            Window times in seconds.
        embeddings : array-like of shape (n_windows, dim)
        duration : float or None, default=None
            Length of the recording; ``None`` is the last window's end.
        """
        embeddings = np.ascontiguousarray(as_2d_embedding(embeddings), dtype=EMBEDDING_DTYPE)
        starts, ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
        if not len(embeddings) == len(starts) == len(ends):
            raise ValueError(f"{file}: {len(embeddings)} embeddings for {len(starts)} starts "
                             f"and {len(ends)} ends.")
        dim = self.header["dim"] or embeddings.shape[1]
        if embeddings.shape[1] != dim:
            raise ValueError(f"{file}: embeddings have {embeddings.shape[1]} features but the "
                             f"store holds {dim}; use the store's encoder.")
        if not np.isfinite(embeddings).all():
            raise ValueError(f"{file}: the embeddings contain NaN or infinite values.")
        records = np.empty(len(starts), dtype=WINDOW_DTYPE)
        records["file"], records["start"], records["end"] = len(self.files), starts, ends
        n = self.n_windows
        _append(self.path / _EMBEDDINGS, embeddings, n * dim * EMBEDDING_DTYPE.itemsize)
        _append(self.path / _WINDOWS, records, n * WINDOW_DTYPE.itemsize)
        total = embeddings.sum(axis=0, dtype=np.float64)
        if self.header["sum"] is not None:
            total += np.asarray(self.header["sum"])
        self.header.update(dim=int(dim), n_windows=n + len(embeddings), sum=total.tolist())
        self.header["files"].append({
            "path": str(file), "first_window": n, "n_windows": len(embeddings),
            "duration": float(ends.max() if duration is None else duration)})
        self._write_header()

    # ------------------------------------------------------------ searching
    def embed_examples(self, clips):
        """Embed example clips like the corpus: the mean of their windows' embeddings.

        A clip shorter than a window is embedded whole.

        Parameters
        ----------
        clips : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Mono clips at the store's ``sample_rate``.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, dim)
        """
        settings = {key: self.header[key] for key in ("sample_rate", "window_seconds",
                                                      "hop_seconds")}
        with each_warning_once(stacklevel=4):  # at the caller of the store
            return np.stack([embed_recording(clip, self.encoder, **settings)[2].mean(axis=0)
                             for clip in check_waveforms(clips)])

    def search(self, examples, *, k=20, index="exact", aggregate="mean", distinct=True):
        """The windows most like a few example clips.

        Parameters
        ----------
        examples : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Example clips at the store's ``sample_rate`` (see :meth:`embed_examples`).
        k : int, default=20
            Matches to return.
        index : {"exact", "hnsw", "auto"}, default="exact"
            ``"exact"`` scores every window (chunked matrix products over the memory
            map: memory stays small, time grows with the corpus). ``"hnsw"`` uses an
            approximate index (FAISS ``IndexHNSWFlat``; ``pip install
            skfewaudio[search]``), built on first use and extended with windows added
            since. ``"auto"`` is ``"hnsw"`` from 1,000,000 windows on, when FAISS is
            installed.
        aggregate : {"mean", "max"}, default="mean"
            ``"mean"``: similarity to the mean direction of the examples (their
            prototype). ``"max"``: a window's best similarity to any one example.
        distinct : bool, default=True
            Drop a window that overlaps a better match in the same recording, so the
            matches are different events rather than neighbouring windows of one.

        Returns
        -------
        matches : list of dict
            ``file``, ``start``, ``end`` (seconds) and ``score`` (cosine similarity of
            centred embeddings), best first.
        """
        return self.search_embeddings(self.embed_examples(examples), k=k, index=index,
                                      aggregate=aggregate, distinct=distinct)

    def search_embeddings(self, vectors, *, k=20, index="exact", aggregate="mean",
                          distinct=True):
        """:meth:`search` with example embeddings of shape (n_examples, dim)."""
        if self.n_windows == 0:
            raise ValueError(f"{self.path} holds no windows yet; add recordings first.")
        if aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}.")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        if index not in ("exact", "hnsw", "auto"):
            raise ValueError(f"index must be 'exact', 'hnsw' or 'auto', got {index!r}.")
        vectors = as_2d_embedding(vectors).astype(np.float64)
        if vectors.shape[1] != self.header["dim"]:
            raise ValueError(f"the examples have {vectors.shape[1]} features but the store "
                             f"holds {self.header['dim']}.")
        if index == "auto":
            index = ("hnsw" if self.n_windows >= _index.AUTO_ANN_WINDOWS
                     and _index.have_faiss() else "exact")
        if index == "hnsw":
            searcher = self._hnsw()
            center, find = searcher.center, searcher.top
        else:
            center = self.center()
            find = partial(_index.exact_top, self.embeddings, center)
        queries = normalize(vectors - center)
        if aggregate == "mean":
            queries = normalize(queries.mean(axis=0, keepdims=True))
        windows, k = self.windows, min(int(k), self.n_windows)
        wanted = k
        while True:
            rows, scores = find(queries, min(self.n_windows, 4 * wanted if distinct else k))
            keep = _distinct(windows[rows]) if distinct else np.arange(len(rows))
            if len(keep) >= k or len(rows) == self.n_windows:
                break
            wanted *= 4
        files = self.files
        return [{"file": files[w["file"]], "start": float(w["start"]), "end": float(w["end"]),
                 "score": float(s)} for w, s in zip(windows[rows[keep[:k]]], scores[keep[:k]])]

    def build_index(self, *, M=32, ef_construction=80):
        """Build (or rebuild) the approximate HNSW index over all windows.

        Parameters
        ----------
        M : int, default=32
            Neighbours per node of the HNSW graph (memory: about ``8 * M`` bytes per
            window on top of the vectors).
        ef_construction : int, default=80
            Candidate list size while building (higher: better graph, slower build).
        """
        self._searcher = _index.HNSWIndex.build(self, M=M, ef_construction=ef_construction)
        return self._searcher

    def _hnsw(self):
        """The HNSW index, loaded once per store object and extended as the store grows."""
        searcher = self._searcher
        if searcher is None:
            searcher = self._searcher = _index.HNSWIndex.for_store(self)
        elif searcher.settings["n_windows"] < self.n_windows:
            searcher.extend(self)
        return searcher

    # ------------------------------------------------------------ internals
    def _write_header(self):
        temporary = self.path / (_HEADER + ".tmp")
        temporary.write_text(json.dumps(self.header, indent=1))
        os.replace(temporary, self.path / _HEADER)

    def __repr__(self):
        return (f"EmbeddingStore({str(self.path)!r}: {counted(len(self.files), 'recording')}, "
                f"{self.n_windows} windows of {self.header['window_seconds']} s)")


def _embed_readable(path, encoder, **settings):
    """``embed_recording``'s result, or the :class:`UnreadableRecording` it raised
    (returned, so that one bad file does not end the parallel loop over the others)."""
    try:
        return embed_recording(path, encoder, **settings)
    except UnreadableRecording as exc:
        return exc


def describe_encoder(encoder):
    """Class, JSON parameters (or None) and repr of an encoder, for the header."""
    cls = type(encoder)
    params = encoder.get_params(deep=False) if hasattr(encoder, "get_params") else None
    try:
        json.dumps(params)
    except TypeError:
        params = None
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": params,
            "repr": repr(encoder)}


def _rebuild_encoder(description, path):
    module, _, name = description["class"].rpartition(".")
    cls = getattr(importlib.import_module(module), name, None) if module.startswith(
        "skfewaudio.") else None
    rebuildable = isinstance(cls, type) and issubclass(cls, LEARNING_FREE) and description[
        "params"] is not None
    encoder = cls(**description["params"]) if rebuildable else None
    if not is_learning_free(encoder):
        raise ValueError(f"{path} was embedded with {description['repr']}, which cannot be "
                         "rebuilt from its description; pass it as encoder=.")
    return encoder


def _append(file, array, valid_bytes):
    """Write ``array`` after the first ``valid_bytes`` of ``file`` (dropping the rest)."""
    with open(file, "ab") as handle:
        handle.truncate(valid_bytes)
        handle.write(array.tobytes())


def _distinct(windows):
    """Positions of windows (best first) that overlap no better kept window."""
    kept, by_file = [], {}
    for position, (file, start, end) in enumerate(windows.tolist()):
        spans = by_file.setdefault(file, [])
        if all(end <= s or start >= e for s, e in spans):
            spans.append((start, end))
            kept.append(position)
    return np.asarray(kept, dtype=np.int64)
