import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfewaudio import MelSpectrogram, MelStatistics, PrototypeClassifier


def test_prototypes_are_class_means_of_embeddings(sounds):
    X, y = sounds
    clf = PrototypeClassifier().fit(X, y)
    Z = clf.transform(X)
    for k, label in enumerate(clf.classes_):
        # atol: standardised features sit near zero, where float32 means differ.
        np.testing.assert_allclose(clf.prototypes_[k], Z[y == label].mean(axis=0), rtol=1e-5,
                                   atol=1e-6)


def test_predict_is_nearest_prototype_and_proba_is_softmax(sounds):
    X, y = sounds
    clf = PrototypeClassifier(metric="cosine", temperature=0.1).fit(X[::2], y[::2])
    Z = clf.transform(X[1::2])
    Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    P = clf.prototypes_ / np.linalg.norm(clf.prototypes_, axis=1, keepdims=True)
    distances = 1 - Zn @ P.T
    np.testing.assert_array_equal(clf.predict(X[1::2]), clf.classes_[distances.argmin(1)])
    expected = np.exp(-distances / 0.1)
    np.testing.assert_allclose(clf.predict_proba(X[1::2]),
                               expected / expected.sum(1, keepdims=True), rtol=1e-4)
    assert clf.score(X[1::2], y[1::2]) > 0.6


def test_variable_length_clips(sounds):
    X, y = sounds
    clips = [x[: 4000 + 100 * i] for i, x in enumerate(X)]
    clf = PrototypeClassifier().fit(clips[::2], y[::2])
    assert clf.predict(clips[1::2]).shape == (len(clips[1::2]),)


def test_fitted_encoder_is_used_as_is_and_unfitted_one_is_fitted(sounds):
    X, y = sounds
    encoder = make_pipeline(MelStatistics(), StandardScaler()).fit(X)
    clf = PrototypeClassifier(encoder=encoder).fit(X[:20], y[:20])
    assert clf.encoder_ is encoder
    np.testing.assert_allclose(clf.encoder_[-1].mean_, encoder[-1].mean_)
    fresh = make_pipeline(MelStatistics(), StandardScaler())
    clf = PrototypeClassifier(encoder=fresh).fit(X[:20], y[:20])
    assert clf.encoder_ is not fresh and not hasattr(fresh[-1], "mean_")


def test_frozen_encoder_survives_clone(sounds):
    X, y = sounds
    encoder = make_pipeline(MelStatistics(), StandardScaler()).fit(X)
    clf = clone(PrototypeClassifier(encoder=FrozenEstimator(encoder)))
    clf.fit(X[:20], y[:20])
    np.testing.assert_allclose(clf.transform(X[:3]), encoder.transform(X[:3]))


def test_spectrogram_input_from_a_pipeline(sounds):
    X, y = sounds
    pipe = make_pipeline(MelSpectrogram(), PrototypeClassifier()).fit(X[::2], y[::2])
    direct = PrototypeClassifier().fit(X[::2], y[::2])
    assert np.mean(pipe.predict(X[1::2]) == direct.predict(X[1::2])) > 0.9


def test_joblib_round_trip_gives_identical_predictions(sounds, tmp_path):
    X, y = sounds
    clf = PrototypeClassifier().fit(X[::2], y[::2])
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X[1::2]), clf.predict_proba(X[1::2]))


def test_grid_search_over_metric(sounds):
    X, y = sounds
    search = GridSearchCV(PrototypeClassifier(), {"metric": ["euclidean", "cosine"]}, cv=2)
    search.fit(X, y)
    assert search.best_score_ > 0.5


@pytest.mark.parametrize("params, match", [
    (dict(metric="manhattan"), "metric"),
    (dict(temperature=0), "temperature"),
    (dict(encoder="mel"), "encoder"),
])
def test_bad_parameters(sounds, params, match):
    X, y = sounds
    with pytest.raises(ValueError, match=match):
        PrototypeClassifier(**params).fit(X, y)


def test_single_class_support_set(sounds):
    X, y = sounds
    with pytest.raises(ValueError, match="only one class"):
        PrototypeClassifier().fit(X[:5], y[:5])
