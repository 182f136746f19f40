"""Open-set rejection in PrototypeClassifier: unknown clips get a label of their own."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skfewaudio import PrototypeClassifier, make_sounds
from skfewaudio.prototype import _MAX_CALIBRATION, _reservoir_add


@pytest.fixture(scope="module")
def open_set():
    """5 known classes (support + queries) and 3 unknown classes (queries only)."""
    X, y = make_sounds(n_classes=8, n_per_class=10, duration=0.5, random_state=1)
    classes = np.unique(y)
    known = np.isin(y, classes[:5])
    shots = known & (np.arange(len(y)) % 10 < 5)
    return X[shots], y[shots], X[known & ~shots], y[known & ~shots], X[~known]


def _loo_by_hand(clf, X, y):
    """Cosine distance of each support clip to the mean of the other clips of its class."""
    Z = clf.transform(X).astype(np.float64)
    out = []
    for i in range(len(Z)):
        rest = (y == y[i]) & (np.arange(len(y)) != i)
        prototype = Z[rest].mean(axis=0)
        out.append(1 - Z[i] @ prototype / np.linalg.norm(Z[i]) / np.linalg.norm(prototype))
    return np.array(out)


def test_without_rejection_predictions_are_the_nearest_class(open_set):
    Xs, ys, Xq, _, Xu = open_set
    clf = PrototypeClassifier(metric="cosine").fit(Xs, ys)
    queries = np.concatenate([Xq, Xu])
    distances = -clf.decision_function(queries)
    predicted = clf.predict(queries)
    np.testing.assert_array_equal(predicted, clf.classes_[distances.argmin(axis=1)])
    assert predicted.dtype == clf.classes_.dtype and clf.threshold_ is None


def test_auto_threshold_is_the_quantile_of_leave_one_out_distances(open_set):
    Xs, ys, *_ = open_set
    clf = PrototypeClassifier(metric="cosine", rejection="auto", false_rejection_rate=0.1)
    clf.fit(Xs, ys)
    by_hand = _loo_by_hand(clf, Xs, ys)
    np.testing.assert_allclose(np.sort(clf.calibration_distances_), np.sort(by_hand),
                               rtol=1e-5)
    assert clf.threshold_ == pytest.approx(np.quantile(by_hand, 0.9), rel=1e-5)


def test_clips_beyond_the_threshold_are_unknown_and_proba_is_unchanged(open_set):
    Xs, ys, Xq, _, Xu = open_set
    queries = np.concatenate([Xq, Xu])
    closed = PrototypeClassifier(metric="cosine").fit(Xs, ys)
    clf = PrototypeClassifier(metric="cosine", rejection="auto", unknown_label="other").fit(Xs, ys)
    nearest = -clf.score_samples(queries)
    np.testing.assert_allclose(nearest, (-closed.decision_function(queries)).min(axis=1))
    predicted = clf.predict(queries)
    far = nearest > clf.threshold_
    assert far.any() and (~far).any()
    assert set(predicted[far]) == {"other"}
    np.testing.assert_array_equal(predicted[~far], closed.predict(queries)[~far])
    np.testing.assert_array_equal(clf.predict_proba(queries), closed.predict_proba(queries))


def test_knownness_separates_unknown_classes(open_set):
    Xs, ys, Xq, _, Xu = open_set
    clf = PrototypeClassifier(metric="cosine", rejection="auto").fit(Xs, ys)
    scores = clf.score_samples(np.concatenate([Xq, Xu]))
    is_known = np.r_[np.ones(len(Xq)), np.zeros(len(Xu))]
    assert roc_auc_score(is_known, scores) > 0.9
    predicted = clf.predict(Xu)
    assert np.mean(predicted == "unknown") > 0.5


def test_a_float_rejection_is_the_distance_threshold(open_set):
    Xs, ys, Xq, *_ = open_set
    clf = PrototypeClassifier(metric="cosine").fit(Xs, ys)
    cut = float(np.median(-clf.score_samples(Xq)))
    clf.set_params(rejection=cut)  # no refit needed for the threshold
    assert clf.threshold_ == cut
    rejected = clf.predict(Xq) == "unknown"
    np.testing.assert_array_equal(rejected, -clf.score_samples(Xq) > cut)


def test_score_counts_unknown_label_as_a_class(open_set):
    Xs, ys, Xq, yq, Xu = open_set
    clf = PrototypeClassifier(metric="cosine", rejection="auto").fit(Xs, ys)
    truth = np.r_[yq, ["unknown"] * len(Xu)]
    queries = np.concatenate([Xq, Xu])
    assert clf.score(queries, truth) == pytest.approx(np.mean(clf.predict(queries) == truth))
    with pytest.raises(ValueError, match="never seen in fit"):
        PrototypeClassifier(metric="cosine").fit(Xs, ys).score(queries, truth)


def test_integer_classes_need_an_integer_unknown_label(open_set):
    Xs, ys, Xq, *_ = open_set
    codes = np.unique(ys, return_inverse=True)[1]
    with pytest.raises(ValueError, match="e.g. -1 for integer classes"):
        PrototypeClassifier(metric="cosine", rejection="auto").fit(Xs, codes)
    clf = PrototypeClassifier(metric="cosine", rejection=0.0, unknown_label=-1).fit(Xs, codes)
    assert set(clf.predict(Xq)) == {-1}


def test_unknown_label_must_not_be_a_class(open_set):
    Xs, ys, *_ = open_set
    with pytest.raises(ValueError, match="is one of the classes"):
        PrototypeClassifier(metric="cosine", rejection="auto", unknown_label=ys[0]).fit(Xs, ys)


def test_auto_rejection_with_one_clip_per_class_explains_what_is_missing(open_set):
    Xs, ys, Xq, *_ = open_set
    _, first = np.unique(ys, return_index=True)
    clf = PrototypeClassifier(metric="cosine", rejection="auto").fit(Xs[first], ys[first])
    assert np.isnan(clf.threshold_)
    with pytest.raises(ValueError, match="no class has two clips yet"):
        clf.predict(Xq)
    clf.partial_fit(Xs[first[:1] + 1], ys[first[:1] + 1])  # a second clip of one class
    assert np.isfinite(clf.threshold_) and clf.predict(Xq).shape == (len(Xq),)


def test_calibration_sample_is_bounded_and_deterministic():
    rng = np.random.default_rng(0)
    values = rng.random(3 * _MAX_CALIBRATION)
    kept, seen = _reservoir_add(np.empty(0), 0, values[:100])
    np.testing.assert_array_equal(kept, values[:100])
    kept, seen = _reservoir_add(kept, seen, values[100:])
    again, _ = _reservoir_add(*_reservoir_add(np.empty(0), 0, values[:100]), values[100:])
    assert len(kept) == _MAX_CALIBRATION and seen == len(values)
    np.testing.assert_array_equal(kept, again)
    # A uniform sample: later values are as likely to be kept as early ones.
    assert abs(np.isin(kept, values[2 * _MAX_CALIBRATION:]).mean() - 1 / 3) < 0.03
    assert np.quantile(kept, 0.95) == pytest.approx(0.95, abs=0.01)


def test_a_refused_unknown_label_leaves_a_grown_classifier_as_it_was(open_set):
    Xs, ys, *_ = open_set
    clf = PrototypeClassifier(metric="cosine", rejection="auto").partial_fit(Xs[:10], ys[:10])
    counts = clf.class_counts_.copy()
    with pytest.raises(ValueError, match="is one of the classes"):
        clf.partial_fit(Xs[10:12], ["unknown", "unknown"])
    np.testing.assert_array_equal(clf.class_counts_, counts)
