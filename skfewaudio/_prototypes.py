"""Nearest-prototype arithmetic shared by PrototypeClassifier and episodic evaluation.

Every function takes an optional leading batch (episode) dimension.
"""

import numpy as np

METRICS = ("euclidean", "cosine")


def normalize(embeddings):
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def prototype_distances(queries, prototypes, metric):
    """Distances of shape (..., n_queries, n_classes).

    ``euclidean`` is the squared Euclidean distance (as in prototypical networks);
    ``cosine`` is ``1 - cosine similarity``.
    """
    if metric == "cosine":
        return 1.0 - normalize(queries) @ np.swapaxes(normalize(prototypes), -1, -2)
    sq_q = np.sum(queries**2, axis=-1)[..., :, None]
    sq_p = np.sum(prototypes**2, axis=-1)[..., None, :]
    cross = queries @ np.swapaxes(prototypes, -1, -2)
    return np.maximum(sq_q + sq_p - 2.0 * cross, 0.0)


def clip_distances(embeddings, prototypes, metric):
    """:func:`prototype_distances` in float64, for a classifier's per-clip predictions.

    The similarities of close embeddings differ by a few float32 ulps, and a network's
    float32 rounding varies with the batch: in float32, near-ties would flip and a
    clip's class would depend on the clips beside it. (Episode evaluation embeds every
    clip once, so it keeps the float32 :func:`prototype_distances`, twice as fast.)
    """
    return prototype_distances(np.asarray(embeddings, dtype=np.float64),
                               np.asarray(prototypes, dtype=np.float64), metric)


def softmax_neg(distances, temperature=1.0):
    logits = -distances / temperature
    logits = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def as_2d_embedding(embeddings):
    """Flatten any per-clip embedding (e.g. a spectrogram) to one float vector."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings.reshape(len(embeddings), -1)
