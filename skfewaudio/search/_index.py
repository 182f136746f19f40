"""Nearest windows by cosine similarity: exact chunked scan, or a FAISS HNSW index."""

import json

import numpy as np

from .._prototypes import normalize

AUTO_ANN_WINDOWS = 1_000_000  # index="auto" switches to HNSW from here (benchmarks/search_scale.py)
_CHUNK = 32_768  # rows scored at once by the exact scan: ~32 MB of float32 at 256 dims
_INDEX, _INDEX_HEADER = "index.faiss", "index.json"


def have_faiss():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("index='hnsw' needs FAISS: pip install 'skfewaudio[search]' "
                          "(the faiss-cpu package), or use index='exact'.") from None
    return faiss


def unit_rows(block, center):
    """Centred, unit-norm float32 rows of an embedding block."""
    return normalize(np.asarray(block, dtype=np.float32) - center.astype(np.float32))


def exact_top(embeddings, center, queries, m, chunk=_CHUNK):
    """Rows and scores of the ``m`` windows most similar to the queries, best first.

    ``queries`` are unit vectors (n_queries, dim); a window's score is its best cosine
    similarity to any query. The scan reads ``chunk`` rows at a time.
    """
    queries, center = queries.astype(np.float32), center.astype(np.float32)
    best_rows, best_scores = np.empty(0, np.int64), np.empty(0, np.float32)
    for lo in range(0, len(embeddings), chunk):
        block = np.asarray(embeddings[lo:lo + chunk], dtype=np.float32) - center
        norms = np.sqrt(np.maximum(np.einsum("ij,ij->i", block, block), 1e-24))
        scores = (block @ queries.T).max(axis=1) / norms  # norms > 0: max commutes
        rows = np.arange(lo, lo + len(scores))
        best_rows = np.concatenate([best_rows, rows])
        best_scores = np.concatenate([best_scores, scores])
        if len(best_scores) > m:
            top = np.argpartition(-best_scores, m - 1)[:m]
            best_rows, best_scores = best_rows[top], best_scores[top]
    order = np.lexsort((best_rows, -best_scores))  # ties: earlier window first
    return best_rows[order], best_scores[order]


class HNSWIndex:
    """A FAISS ``IndexHNSWFlat`` (inner product) over centred unit window embeddings.

    Stored beside the store as ``index.faiss`` with ``index.json`` (the centre used,
    the windows indexed, the settings). Windows appended to the store later are added
    to the graph on the next search; :meth:`EmbeddingStore.build_index` rebuilds it
    with the current centre.
    """

    def __init__(self, index, center, settings):
        self.index, self.center, self.settings = index, center, settings

    @classmethod
    def build(cls, store, *, M=32, ef_construction=80):
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(store.header["dim"], M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        searcher = cls(index, store.center(), {"M": M, "ef_construction": ef_construction,
                                               "n_windows": 0})
        searcher.extend(store)
        return searcher

    @classmethod
    def for_store(cls, store):
        """The store's index, built if missing and extended with any new windows."""
        header = store.path / _INDEX_HEADER
        if not header.exists():
            return cls.build(store)
        settings = json.loads(header.read_text())
        index = _faiss().read_index(str(store.path / _INDEX))
        searcher = cls(index, np.asarray(settings.pop("center")), settings)
        if settings["n_windows"] < store.n_windows:
            searcher.extend(store)
        return searcher

    def extend(self, store):
        """Add the store's windows not yet indexed, then save."""
        embeddings = store.embeddings
        for lo in range(self.settings["n_windows"], store.n_windows, _CHUNK):
            self.index.add(unit_rows(embeddings[lo:lo + _CHUNK], self.center))
        self.settings["n_windows"] = store.n_windows
        _faiss().write_index(self.index, str(store.path / _INDEX))
        (store.path / _INDEX_HEADER).write_text(
            json.dumps({**self.settings, "center": self.center.tolist()}))

    def top(self, queries, m, ef_search=None):
        """Like :func:`exact_top`, approximately."""
        self.index.hnsw.efSearch = max(64, 2 * m) if ef_search is None else ef_search
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), m)
        rows, scores = rows.ravel(), scores.ravel()
        valid = rows >= 0
        rows, scores = rows[valid], scores[valid]
        order = np.lexsort((rows, -scores))
        rows, scores = rows[order], scores[order]
        rows, first = np.unique(rows, return_index=True)  # one entry per window (its best)
        scores = scores[first]
        order = np.lexsort((rows, -scores))[:m]
        return rows[order].astype(np.int64), scores[order]
