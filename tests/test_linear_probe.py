import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import FunctionTransformer

from skfewaudio import (
    EpisodeSampler,
    LinearProbeClassifier,
    MelStatistics,
    PrototypeClassifier,
    evaluate_episodes,
    load,
    save,
)
from skfewaudio._logistic import fit_logistic
from skfewaudio.linear_probe import probe_episode_accuracies


def _unit(Z):
    return Z / np.linalg.norm(Z, axis=-1, keepdims=True)


@pytest.mark.parametrize("C", [0.5, 10.0])
def test_solver_is_sklearns_logistic_regression(C):
    rng = np.random.default_rng(0)
    X = _unit(rng.normal(size=(3, 12, 40)))  # 3 episodes, fewer clips than features
    y = np.tile(np.repeat(np.arange(4), 3), (3, 1))
    coef, intercept = fit_logistic(X, y, 4, C)
    for e in range(3):
        reference = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X[e], y[e])
        np.testing.assert_allclose(coef[e], reference.coef_, atol=1e-5)
        np.testing.assert_allclose(intercept[e], reference.intercept_, atol=1e-5)


def test_classifier_is_logistic_regression_on_normalised_embeddings(sounds):
    X, y = sounds
    clf = LinearProbeClassifier(C=3.0).fit(X[::2], y[::2])
    Z = _unit(clf.transform(X).astype(np.float64))
    reference = LogisticRegression(C=3.0, tol=1e-10, max_iter=10_000).fit(Z[::2], y[::2])
    np.testing.assert_allclose(clf.predict_proba(X[1::2]), reference.predict_proba(Z[1::2]),
                               atol=1e-5)
    np.testing.assert_array_equal(clf.predict(X[1::2]), reference.predict(Z[1::2]))
    assert clf.score(X[1::2], y[1::2]) > 0.6


def test_two_classes_decision_is_one_column(sounds):
    X, y = sounds
    two = np.isin(y, np.unique(y)[:2])
    clf = LinearProbeClassifier().fit(X[two][::2], y[two][::2])
    scores = clf.decision_function(X[two][1::2])
    assert scores.shape == (two.sum() // 2,)
    np.testing.assert_array_equal(clf.predict(X[two][1::2]), clf.classes_[(scores > 0) * 1])


def test_query_of_unseen_class_is_named(sounds):
    X, y = sounds
    known = np.isin(y, np.unique(y)[:2])
    clf = LinearProbeClassifier().fit(X[known], y[known])
    with pytest.raises(ValueError, match=f"{np.unique(y)[2]}.*never seen in fit"):
        clf.score(X[~known], y[~known])


def test_unfitted_encoder_is_fitted_on_the_support_set(sounds):
    X, y = sounds
    clf = LinearProbeClassifier(encoder=MelStatistics()).fit(X, y)
    assert clf.encoder_ is not clf.encoder and clf.coef_.shape == (len(np.unique(y)), 256)


def test_episodes_embedded_once_equal_a_fit_per_episode(sounds):
    X, y = sounds
    once = evaluate_episodes(LinearProbeClassifier(C=5.0), X, y, n_way=3, n_shot=2,
                             n_query=2, n_episodes=6, random_state=0)
    assert once["embedded_once"]
    support, query = EpisodeSampler(3, 2, 2, 6, random_state=0).sample(y)
    for accuracy, s, q in zip(once["episode_accuracies"], support, query):
        fitted = LinearProbeClassifier(C=5.0).fit(X[s.ravel()], y[s.ravel()])
        assert accuracy == fitted.score(X[q.ravel()], y[q.ravel()])


def test_probe_beats_prototypes_where_few_features_decide():
    # Two informative features beside five loud ones that vary as much in every class:
    # the probe learns from the support set to weigh the informative ones, a cosine
    # prototype cannot.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 20)
    Z = 5 * rng.normal(size=(100, 7))
    Z[:, :2] = np.stack([np.cos(y * 1.2), np.sin(y * 1.2)], axis=1)
    Z[:, :2] += 0.1 * rng.normal(size=(100, 2))
    support, query = EpisodeSampler(5, 5, 1, 200, random_state=0).sample(y)
    probe = probe_episode_accuracies(Z, support, query, C=100.0).mean()
    identity = FrozenEstimator(FunctionTransformer().fit(Z[:1]))
    prototypes = evaluate_episodes(PrototypeClassifier(encoder=identity), Z, y, n_shot=5,
                                   n_episodes=200, random_state=0)["accuracy"]
    assert probe > prototypes + 0.2, (probe, prototypes)


def test_grid_search_clone_and_save(sounds, tmp_path):
    X, y = sounds
    search = GridSearchCV(LinearProbeClassifier(), {"C": [0.1, 10.0]}, cv=2).fit(X, y)
    assert search.best_params_["C"] in (0.1, 10.0)
    clf = LinearProbeClassifier(C=2.0).fit(X, y)
    save(clf, tmp_path / "probe.safetensors")
    loaded = load(tmp_path / "probe.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_bad_C_is_refused(sounds):
    X, y = sounds
    with pytest.raises(ValueError, match="'C' parameter"):
        LinearProbeClassifier(C=0).fit(X, y)

