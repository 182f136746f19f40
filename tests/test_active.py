"""rank_for_labelling: which pool clips to label next."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skfewaudio import PrototypeClassifier, make_sounds
from skfewaudio.active import rank_for_labelling


@pytest.fixture(scope="module")
def pool():
    X, y = make_sounds(n_classes=6, n_per_class=12, duration=0.5, random_state=3)
    classes = np.unique(y)
    known = np.isin(y, classes[:4])
    support = known & (np.arange(len(y)) % 12 < 2)
    clf = PrototypeClassifier(metric="cosine").fit(X[support], y[support])
    return clf, X[~support], y[~support], known[~support]


def test_pure_margin_ranking_is_the_smallest_gap_first(pool):
    clf, X, *_ = pool
    order = rank_for_labelling(clf, X, n=len(X), diversity=0)
    scores = np.sort(clf.decision_function(X), axis=1)
    gap = scores[:, -1] - scores[:, -2]
    np.testing.assert_array_equal(order, np.argsort(gap, kind="stable"))


@pytest.mark.parametrize("strategy", ["uncertainty", "entropy"])
def test_probability_strategies_rank_the_least_confident_first(pool, strategy):
    clf, X, *_ = pool
    proba = clf.predict_proba(X)
    top = rank_for_labelling(clf, X, n=5, strategy=strategy, diversity=0)
    rest = np.setdiff1d(np.arange(len(X)), top)
    if strategy == "uncertainty":
        assert proba[top].max(axis=1).max() <= proba[rest].max(axis=1).min()
    else:
        entropy = -np.sum(proba * np.log(proba), axis=1)
        assert entropy[top].min() >= entropy[rest].max()


def test_diversity_keeps_near_duplicates_out_of_the_top(pool):
    clf, X, *_ = pool
    ambiguous = rank_for_labelling(clf, X, n=1, diversity=0)[0]
    rng = np.random.default_rng(0)
    copies = X[ambiguous] + 1e-4 * rng.standard_normal((8, X.shape[1])).astype(np.float32)
    X_dup = np.concatenate([copies, X])
    plain = rank_for_labelling(clf, X_dup, n=6, diversity=0)
    diverse = rank_for_labelling(clf, X_dup, n=6, diversity=0.5)
    is_copy = lambda idx: np.sum((idx < 8) | (idx == 8 + ambiguous))  # noqa: E731
    assert is_copy(plain) >= 5
    assert is_copy(diverse) == 1
    assert len(set(diverse)) == 6


def test_novelty_puts_unknown_classes_first(pool):
    clf, X, _, known = pool
    top = rank_for_labelling(clf, X, n=10, strategy="novelty", diversity=0)
    assert np.mean(~known[top]) >= 0.8


def test_full_diversity_is_farthest_first_traversal(pool):
    clf, X, *_ = pool
    order = rank_for_labelling(clf, X, n=5, diversity=1.0)
    Z = clf.transform(X).astype(np.float64)
    Z -= Z.mean(axis=0)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    for k in range(1, 5):
        spread = np.min(1 - Z @ Z[order[:k]].T, axis=1)
        spread[order[:k]] = -np.inf
        assert order[k] == np.argmax(spread)


def test_any_classifier_with_given_embeddings(pool):
    clf, X, y, known = pool
    Z = clf.transform(X)
    model = LogisticRegression(max_iter=1000).fit(Z[::2], y[::2])
    order = rank_for_labelling(model, Z, n=7, embeddings=Z)
    assert len(set(order)) == 7 and order.max() < len(X)
    with pytest.raises(ValueError, match="needs score_samples"):
        rank_for_labelling(model, Z, strategy="novelty")


def test_n_larger_than_the_pool_returns_the_whole_pool(pool):
    clf, X, *_ = pool
    assert sorted(rank_for_labelling(clf, X[:4], n=50)) == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "random"}, "strategy must be one of"),
    ({"diversity": 1.5}, "diversity must be a number in"),
    ({"n": 0}, "n must be a positive integer"),
])
def test_bad_arguments_are_explained(pool, kwargs, message):
    clf, X, *_ = pool
    with pytest.raises(ValueError, match=message):
        rank_for_labelling(clf, X, **kwargs)
