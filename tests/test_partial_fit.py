"""PrototypeClassifier.partial_fit: growing a classifier clip by clip, exactly."""

import joblib
import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfewaudio import MelStatistics, PrototypeClassifier


def _batches(X, y, sizes):
    """Split (X, y) into consecutive batches of the given sizes."""
    edges = np.cumsum([0] + list(sizes))
    return [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def test_partial_fit_in_batches_equals_fit_on_the_union(sounds):
    X, y = sounds
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    full = PrototypeClassifier(metric="cosine").fit(X[:60], y[:60])
    grown = PrototypeClassifier(metric="cosine")
    for Xb, yb in _batches(X[:60], y[:60], [7, 1, 20, 32]):
        grown.partial_fit(Xb, yb)
    np.testing.assert_array_equal(grown.classes_, full.classes_)
    np.testing.assert_array_equal(grown.class_counts_, full.class_counts_)
    np.testing.assert_allclose(grown.prototypes_, full.prototypes_, rtol=1e-6)
    np.testing.assert_array_equal(grown.predict(X[60:]), full.predict(X[60:]))
    np.testing.assert_allclose(grown.predict_proba(X[60:]), full.predict_proba(X[60:]),
                               rtol=1e-5)


def test_new_classes_are_inserted_in_sorted_order(sounds):
    X, y = sounds
    classes = np.unique(y)
    late = np.isin(y, classes[:3])  # the alphabetically first classes come last
    clf = PrototypeClassifier().partial_fit(X[~late], y[~late])
    assert clf.classes_.tolist() == classes[3:].tolist()
    clf.partial_fit(X[late], y[late])
    full = PrototypeClassifier().fit(X, y)
    assert clf.classes_.tolist() == classes.tolist()
    np.testing.assert_allclose(clf.prototypes_, full.prototypes_, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), full.predict(X))


def test_fit_after_partial_fit_starts_again(sounds):
    X, y = sounds
    clf = PrototypeClassifier().partial_fit(X[:40], y[:40])
    clf.fit(X[40:], y[40:])
    fresh = PrototypeClassifier().fit(X[40:], y[40:])
    np.testing.assert_array_equal(clf.class_counts_, fresh.class_counts_)
    np.testing.assert_allclose(clf.prototypes_, fresh.prototypes_)


def test_memory_does_not_grow_with_clips_seen(sounds):
    X, y = sounds
    clf = PrototypeClassifier()
    for i in range(0, len(X), 10):
        clf.partial_fit(X[i:i + 10], y[i:i + 10])
    sizes = {name: np.asarray(value).nbytes for name, value in vars(clf).items()
             if name.endswith("_") and isinstance(value, np.ndarray)}
    clf.partial_fit(X, y)  # doubles the clips seen
    after = {name: np.asarray(getattr(clf, name)).nbytes for name in sizes}
    assert clf.class_counts_.sum() == 2 * len(X)
    # Only the bounded calibration sample may grow (one float per clip, up to 10,000).
    assert {k: v for k, v in after.items() if k != "calibration_distances_"} == \
        {k: v for k, v in sizes.items() if k != "calibration_distances_"}


def test_declared_classes_need_a_clip_before_predict(sounds):
    X, y = sounds
    classes = np.unique(y)
    first = np.isin(y, classes[:2])
    clf = PrototypeClassifier().partial_fit(X[first], y[first], classes=classes)
    assert clf.classes_.tolist() == classes.tolist()
    with pytest.raises(ValueError, match="have no clips yet"):
        clf.predict(X[:3])
    clf.partial_fit(X[~first], y[~first])
    np.testing.assert_array_equal(clf.predict(X), PrototypeClassifier().fit(X, y).predict(X))


def test_one_clip_at_a_time_from_a_single_class(sounds):
    X, y = sounds
    clf = PrototypeClassifier().partial_fit(X[:1], y[:1])
    assert clf.predict(X[:4]).tolist() == [y[0]] * 4
    for i in range(1, 30):
        clf.partial_fit(X[i:i + 1], y[i:i + 1])
    np.testing.assert_allclose(clf.prototypes_,
                               PrototypeClassifier().fit(X[:30], y[:30]).prototypes_, rtol=1e-6)


def test_an_encoder_fitted_on_the_support_set_refuses_partial_fit(sounds):
    X, y = sounds
    with pytest.raises(ValueError, match="learns nothing from the support set"):
        PrototypeClassifier(encoder=make_pipeline(MelStatistics(), StandardScaler())
                            ).partial_fit(X, y)


def test_a_frozen_fitted_encoder_allows_partial_fit(sounds):
    X, y = sounds
    encoder = FrozenEstimator(make_pipeline(MelStatistics(), StandardScaler()).fit(X))
    clf = PrototypeClassifier(encoder=encoder)
    clf.partial_fit(X[:30], y[:30]).partial_fit(X[30:], y[30:])
    full = PrototypeClassifier(encoder=encoder).fit(X, y)
    np.testing.assert_allclose(clf.prototypes_, full.prototypes_, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(clf.predict(X), full.predict(X))


def test_a_changed_embedding_size_is_refused(sounds):
    X, y = sounds
    clf = PrototypeClassifier().partial_fit(X[:20], y[:20])
    clf.encoder_ = MelStatistics(n_mels=32).fit(X[:1])
    with pytest.raises(ValueError, match="features per clip"):
        clf.partial_fit(X[20:], y[20:])


def test_mixing_string_and_number_labels_is_refused(sounds):
    X, y = sounds
    clf = PrototypeClassifier().partial_fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="mix strings and numbers"):
        clf.partial_fit(X[20:22], [1, 2])


def test_grown_classifier_survives_joblib(sounds, tmp_path):
    X, y = sounds
    clf = PrototypeClassifier(rejection="auto").partial_fit(X[:30], y[:30])
    clf.partial_fit(X[30:60], y[30:60])
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict(X[60:]), clf.predict(X[60:]))
    np.testing.assert_array_equal(loaded.score_samples(X[60:]), clf.score_samples(X[60:]))
    loaded.partial_fit(X[60:], y[60:])
    clf.partial_fit(X[60:], y[60:])
    np.testing.assert_array_equal(loaded.prototypes_, clf.prototypes_)
