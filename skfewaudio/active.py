"""Which clips to label next: uncertainty ranking with a diversity term (active learning)."""

from numbers import Integral, Real

import numpy as np

from ._prototypes import as_2d_embedding, normalize

__all__ = ["rank_for_labelling"]

STRATEGIES = ("margin", "uncertainty", "entropy", "novelty")


def rank_for_labelling(classifier, X_pool, *, n=10, strategy="margin", diversity=0.5,
                       embeddings=None):
    """Rank unlabelled clips by how much labelling them should help, best first.

    Each clip gets an *informativeness* from the fitted classifier (``strategy``),
    turned into its rank among the pool (a value in (0, 1], so strategies and
    classifiers of any score scale mix alike with the diversity term). Clips are then
    chosen greedily by maximal marginal relevance: the next clip maximises
    ``(1 - diversity) * informativeness + diversity * spread``, where ``spread`` is
    its cosine distance (on centred embeddings) to the nearest clip already chosen,
    divided by the largest such distance. ``diversity=0`` is a pure uncertainty
    ranking; ``diversity=1`` is farthest-first (k-center) traversal from the most
    informative clip, so the top of the list holds no near-duplicates.

    Parameters
    ----------
    classifier : fitted classifier
        With ``predict_proba``; ``decision_function`` is used by ``"margin"`` when
        present, ``score_samples`` by ``"novelty"``, and ``transform`` gives the
        embeddings of the diversity term unless ``embeddings`` is given (a
        :class:`~skfewaudio.PrototypeClassifier` has all of them).
    X_pool : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        Unlabelled clips.
    n : int, default=10
        Clips to return (at most the pool size).
    strategy : {"margin", "uncertainty", "entropy", "novelty"}, default="margin"
        ``"margin"``: smallest gap between the two best classes (in
        ``decision_function`` units when the classifier has it, where probabilities
        may round to 0 and 1; else in probabilities). ``"uncertainty"``: lowest top
        probability. ``"entropy"``: highest entropy of ``predict_proba``.
        ``"novelty"``: farthest from every known class (lowest ``score_samples``),
        to find sounds that may be a class of their own.
    diversity : float in [0, 1], default=0.5
        Weight of the spread term.
    embeddings : ndarray of shape (n_clips, n_features) or None, default=None
        Embeddings of ``X_pool`` for the diversity term; ``None`` calls
        ``classifier.transform(X_pool)``.

    Returns
    -------
    indices : ndarray of shape (min(n, n_clips),)
        Positions in ``X_pool``, the clip to label first at index 0.

    Examples
    --------
    >>> from skfewaudio import PrototypeClassifier, make_sounds, rank_for_labelling
    >>> X, y = make_sounds(n_classes=3, n_per_class=6, duration=0.5, random_state=0)
    >>> clf = PrototypeClassifier(metric="cosine").fit(X[::3], y[::3])
    >>> rank_for_labelling(clf, X, n=4).shape
    (4,)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    if not isinstance(diversity, Real) or not 0 <= diversity <= 1:
        raise ValueError(f"diversity must be a number in [0, 1], got {diversity!r}.")
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    informative = _informativeness(classifier, X_pool, strategy)
    n = min(int(n), len(informative))
    relevance = _average_ranks(informative) / len(informative)
    if diversity == 0:
        return np.argsort(-relevance, kind="stable")[:n]
    if embeddings is None:
        if not hasattr(classifier, "transform"):
            raise ValueError(
                f"{type(classifier).__name__} has no transform to embed the pool for the "
                "diversity term; pass embeddings=, or set diversity=0."
            )
        embeddings = classifier.transform(X_pool)
    embeddings = as_2d_embedding(embeddings).astype(np.float64)
    if len(embeddings) != len(relevance):
        raise ValueError(f"embeddings has {len(embeddings)} rows but the pool has "
                         f"{len(relevance)} clips.")
    return _greedy_mmr(relevance, normalize(embeddings - embeddings.mean(axis=0)), n,
                       float(diversity))


def _informativeness(classifier, X, strategy):
    """Higher means more worth labelling, shape (n_clips,)."""
    if strategy == "novelty":
        if not hasattr(classifier, "score_samples"):
            raise ValueError(f"strategy='novelty' needs score_samples, which "
                             f"{type(classifier).__name__} does not have.")
        return -np.asarray(classifier.score_samples(X), dtype=np.float64)
    if strategy == "margin" and hasattr(classifier, "decision_function"):
        scores = np.asarray(classifier.decision_function(X), dtype=np.float64)
        if scores.ndim == 1:  # binary: distance from the boundary
            return -np.abs(scores)
        return -_top_two_gap(scores)
    proba = np.asarray(classifier.predict_proba(X), dtype=np.float64)
    if strategy == "margin":
        return -_top_two_gap(proba)
    if strategy == "uncertainty":
        return 1.0 - proba.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(proba > 0, proba * np.log(proba), 0.0), axis=1)


def _average_ranks(values):
    """Ranks 1..n, ties sharing their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def _top_two_gap(scores):
    if scores.shape[1] < 2:  # one class: nothing to be uncertain between
        return np.zeros(len(scores))
    top = np.sort(scores, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def _greedy_mmr(relevance, unit, n, diversity):
    """Greedy maximal marginal relevance on unit-norm embeddings."""
    chosen = [int(np.argmax(relevance))]
    spread = 1.0 - unit @ unit[chosen[0]]
    available = np.ones(len(relevance), dtype=bool)
    available[chosen[0]] = False
    for _ in range(n - 1):
        scale = spread[available].max()
        value = (1 - diversity) * relevance + diversity * spread / (scale if scale > 0 else 1)
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        spread = np.minimum(spread, 1.0 - unit @ unit[pick])
    return np.asarray(chosen)
