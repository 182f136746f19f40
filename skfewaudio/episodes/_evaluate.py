"""Few-shot evaluation over many episodes, and a scorer built on it."""

import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._prototypes import METRICS, as_2d_embedding, prototype_distances
from .._validation import check_audio, check_labels
from ._sampler import EpisodeSampler

_CACHED_BLOCK = 512  # episodes per vectorised block on cached embeddings


def evaluate_episodes(estimator, X, y, *, n_way=5, n_shot=1, n_query=1, n_episodes=1000,
                      random_state=None, n_jobs=None, metric=None, progress=False):
    """Mean few-shot accuracy of ``estimator`` over random N-way K-shot episodes.

    Two ways of running, chosen automatically:

    * **Embed once.** When the estimator classifies in a fixed embedding (a
      :class:`PrototypeClassifier` or :class:`LinearProbeClassifier` whose encoder
      needs no fitting, or any fitted transformer such as a pre-trained encoder or
      meta-trained classifier), every clip is embedded once and all episodes reuse the
      embeddings, vectorised. A :class:`LinearProbeClassifier` solves each episode's
      regression (all episodes of a block at once); otherwise the rule is the nearest
      prototype, with metric ``metric``, else the estimator's own ``metric``, else
      ``"cosine"`` (:class:`PrototypeClassifier`'s default).
    * **Fit per episode.** Otherwise a clone is fitted on each support set and
      predicts its queries (in parallel with ``n_jobs``).

    Parameters
    ----------
    estimator : estimator
        A few-shot classifier (``fit(support_X, support_y).predict(query_X)``) or a
        fitted transformer.
    X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        Clips of the evaluation classes (or spectrograms, if the estimator takes them).
    y : array-like of shape (n_clips,)
    n_way, n_shot, n_query, n_episodes, random_state
        See :class:`EpisodeSampler`.
    n_jobs : int or None
        Parallel jobs for the fit-per-episode path.
    metric : {"euclidean", "cosine"} or None
        Of the nearest-prototype rule (a linear probe has no metric).
    progress : bool
        Show a progress bar.

    Returns
    -------
    results : dict
        ``accuracy`` (mean), ``ci95`` (1.96 * std / sqrt(n_episodes)),
        ``episode_accuracies`` (ndarray of shape (n_episodes,)), ``embedded_once``
        (which path ran), ``seconds`` and the protocol settings.
    """
    X = check_audio(X)
    y = check_labels(y, len(X), min_classes=1)  # the sampler says what n_way needs
    sampler = EpisodeSampler(n_way, n_shot, n_query, n_episodes, random_state)
    support, query = sampler.sample(y)
    start = time.perf_counter()
    embedder = _shared_embedder(estimator)
    if embedder is not None:
        embeddings = as_2d_embedding(embedder.transform(X))
        if hasattr(estimator, "_episode_accuracies"):  # its own rule, e.g. a linear probe
            accuracies = estimator._episode_accuracies(embeddings, support, query,
                                                       progress=progress)
        else:
            metric = metric or getattr(estimator, "metric", None) or "cosine"
            if metric not in METRICS:
                raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
            accuracies = cached_episode_accuracies(embeddings, support, query, metric,
                                                   progress=progress)
    else:
        accuracies = _refit_episode_accuracies(estimator, X, y, support, query, n_jobs, progress)
    return {
        "accuracy": float(accuracies.mean()),
        "ci95": float(1.96 * accuracies.std() / np.sqrt(len(accuracies))),
        "episode_accuracies": accuracies,
        "n_way": n_way, "n_shot": n_shot, "n_query": n_query, "n_episodes": n_episodes,
        "embedded_once": embedder is not None,
        "seconds": time.perf_counter() - start,
    }


def _shared_embedder(estimator):
    """A fitted transformer whose embeddings all episodes can share, or None."""
    if hasattr(estimator, "_episode_embedder"):
        return estimator._episode_embedder()
    if hasattr(estimator, "transform"):
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            return None
        return estimator
    return None


def cached_episode_accuracies(embeddings, support, query, metric, *, progress=False):
    """Nearest-prototype accuracy of each episode on precomputed embeddings.

    Parameters
    ----------
    embeddings : ndarray of shape (n_clips, n_features)
    support, query : ndarray of shape (n_episodes, n_way, n_shot / n_query)
        Indices into ``embeddings``, as :meth:`EpisodeSampler.sample` returns them.
    metric : {"euclidean", "cosine"}

    Returns
    -------
    accuracies : ndarray of shape (n_episodes,)
    """
    def nearest_prototype(shots, queries):
        return prototype_distances(queries, shots.mean(axis=2), metric).argmin(axis=2)

    return blockwise_episode_accuracies(embeddings, support, query, nearest_prototype,
                                        progress=progress)


def blockwise_episode_accuracies(embeddings, support, query, predict, *, progress=False):
    """Accuracy of each episode on precomputed embeddings, ``_CACHED_BLOCK`` episodes
    at a time.

    Parameters
    ----------
    embeddings : ndarray of shape (n_clips, n_features)
    support, query : ndarray of shape (n_episodes, n_way, n_shot / n_query)
        Indices into ``embeddings``, as :meth:`EpisodeSampler.sample` returns them.
    predict : callable
        ``predict(shots, queries)``, with ``shots`` of shape (E, n_way, n_shot,
        n_features) and ``queries`` of shape (E, n_way * n_query, n_features), returns
        the predicted class index (into ``n_way``) of each query, shape
        (E, n_way * n_query).
    progress : bool
        Show a progress bar.

    Returns
    -------
    accuracies : ndarray of shape (n_episodes,)
    """
    n_episodes, n_way, n_query = query.shape
    truth = np.repeat(np.arange(n_way), n_query)
    accuracies = np.empty(n_episodes)
    for start in tqdm(range(0, n_episodes, _CACHED_BLOCK), disable=not progress,
                      desc="episodes", unit="block"):
        block = slice(start, start + _CACHED_BLOCK)
        queries = embeddings[query[block]].reshape(-1, n_way * n_query, embeddings.shape[1])
        accuracies[block] = (predict(embeddings[support[block]], queries) == truth).mean(axis=1)
    return accuracies


def _take(X, indices):
    return X[indices] if isinstance(X, np.ndarray) else [X[i] for i in indices]


def _one_episode(estimator, X, y, support, query):
    fitted = clone(estimator).fit(_take(X, support), y[support])
    return float(np.mean(fitted.predict(_take(X, query)) == y[query]))


def _refit_episode_accuracies(estimator, X, y, support, query, n_jobs, progress):
    jobs = (
        delayed(_one_episode)(estimator, X, y, s.ravel(), q.ravel())
        for s, q in zip(support, query)
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return np.fromiter(
        tqdm(results, total=len(support), disable=not progress, desc="episodes"),
        dtype=float, count=len(support),
    )


class EpisodeScorer:
    """Scorer giving mean few-shot accuracy on the evaluation classes.

    Use with a class-disjoint splitter so that hyperparameters are chosen by
    accuracy on classes unseen in training::

        GridSearchCV(est, grid, cv=ClassDisjointSplit(...), scoring=EpisodeScorer())

    Parameters are those of :func:`evaluate_episodes`.
    """

    def __init__(self, *, n_way=5, n_shot=1, n_query=1, n_episodes=200, random_state=0,
                 metric=None):
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.n_episodes = n_episodes
        self.random_state = random_state
        self.metric = metric

    def __call__(self, estimator, X, y):
        return evaluate_episodes(
            estimator, X, y, n_way=self.n_way, n_shot=self.n_shot, n_query=self.n_query,
            n_episodes=self.n_episodes, random_state=self.random_state, metric=self.metric,
        )["accuracy"]

    def __repr__(self):
        return (f"EpisodeScorer(n_way={self.n_way}, n_shot={self.n_shot}, "
                f"n_query={self.n_query}, n_episodes={self.n_episodes})")
