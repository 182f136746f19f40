"""WithinClassWhitening: within-class covariance normalisation learned on base classes."""

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skfewaudio import PrototypeClassifier, WithinClassWhitening, evaluate_episodes, load, save


def _nuisance_classes(n_classes, n_per_class, seed):
    """Classes that differ along axes 2-5; every clip also varies a lot, whatever its
    class, along axes 0-1 (a nuisance such as loudness or recording conditions)."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(n_classes, 6) * [0, 0, 1, 1, 1, 1]
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = centres[y] + rng.randn(len(y), 6) * [4, 4, 0.3, 0.3, 0.3, 0.3] + [0, 0, 5, 5, 5, 5]
    return X.astype(np.float32), y


def _within_class_covariance(Z, y):
    residuals = Z - np.stack([Z[y == k].mean(0) for k in np.unique(y)])[y]
    return residuals.T @ residuals / (len(Z) - len(np.unique(y)))


def test_near_zero_shrinkage_makes_the_within_class_covariance_isotropic():
    X, y = _nuisance_classes(8, 30, seed=0)
    Z = WithinClassWhitening(shrinkage=1e-6).fit(X, y).transform(X)
    eigenvalues = np.linalg.eigvalsh(_within_class_covariance(Z, y))
    assert eigenvalues.max() / eigenvalues.min() < 1.001


def test_the_gains_follow_the_shrunk_covariance():
    X, y = _nuisance_classes(8, 30, seed=0)
    whitening = WithinClassWhitening(shrinkage=0.6).fit(X, y)
    eigenvalues, vectors = np.linalg.eigh(_within_class_covariance(X.astype(np.float64), y))
    m = eigenvalues.mean()
    expected = vectors @ np.diag(np.sqrt(0.6 * m / (0.4 * eigenvalues + 0.6 * m))) @ vectors.T
    np.testing.assert_allclose(whitening.transform(np.eye(6, dtype=np.float32)), expected,
                               atol=1e-5)
    assert np.all(np.diff(whitening.gains_) >= 0)  # largest variance first, scaled most


def test_shrinkage_one_changes_nothing_and_less_shrinkage_scales_the_nuisance_more():
    X, y = _nuisance_classes(8, 30, seed=0)
    np.testing.assert_allclose(WithinClassWhitening(shrinkage=1.0).fit(X, y).transform(X), X,
                               rtol=1e-6)
    gains = {s: np.linalg.norm(WithinClassWhitening(shrinkage=s).fit(X, y).transform(X)[:, :2])
             for s in (0.1, 0.5, 0.9)}
    assert gains[0.1] < gains[0.5] < gains[0.9] < np.linalg.norm(X[:, :2])


def test_only_the_leading_directions_are_scaled():
    X, y = _nuisance_classes(8, 30, seed=0)
    whitening = WithinClassWhitening(shrinkage=0.5, n_components=2).fit(X, y)
    assert whitening.components_.shape == (2, 6)
    # The two nuisance axes are the leading directions; the class axes pass unchanged.
    np.testing.assert_allclose(np.abs(whitening.components_[:, 2:]), 0, atol=0.05)
    np.testing.assert_allclose(whitening.transform(X)[:, 2:], X[:, 2:], atol=0.2)
    assert WithinClassWhitening(n_components=100).fit(X, y).components_.shape == (6, 6)
    # More features than clips: the directions come from the clips' residuals.
    wide = np.random.RandomState(0).randn(10, 50).astype(np.float32)
    fitted = WithinClassWhitening(n_components=100).fit(wide, np.repeat([0, 1], 5))
    assert fitted.components_.shape == (10, 50)


def test_learned_on_base_classes_it_helps_nearest_prototypes_on_new_classes():
    X_base, y_base = _nuisance_classes(10, 30, seed=0)
    X_new, y_new = _nuisance_classes(6, 20, seed=1)  # other classes, the same nuisance
    protocol = dict(n_way=5, n_shot=1, n_query=1, n_episodes=400, random_state=0)
    identity = PrototypeClassifier(encoder=FunctionTransformer(), metric="cosine")
    plain = evaluate_episodes(identity, X_new, y_new, **protocol)["accuracy"]
    whitening = WithinClassWhitening(shrinkage=0.1, n_components=2).fit(X_base, y_base)
    whitened = PrototypeClassifier(encoder=FrozenEstimator(whitening), metric="cosine")
    assert evaluate_episodes(whitened, X_new, y_new, **protocol)["accuracy"] > plain + 0.2


def test_it_fits_in_a_pipeline_after_an_encoder_and_round_trips(tmp_path):
    X, y = _nuisance_classes(5, 10, seed=0)
    pipeline = make_pipeline(FunctionTransformer(np.abs), WithinClassWhitening()).fit(X, y)
    save(pipeline[-1], tmp_path / "whitening.safetensors")
    loaded = load(tmp_path / "whitening.safetensors")
    np.testing.assert_array_equal(loaded.transform(np.abs(X)), pipeline.transform(X))
    assert pipeline.transform(X).dtype == np.float32


def test_clear_errors():
    X, y = _nuisance_classes(4, 1, seed=0)
    with pytest.raises(ValueError, match="at least two clips"):
        WithinClassWhitening().fit(X, y)
    with pytest.raises(ValueError, match="shrinkage"):
        WithinClassWhitening(shrinkage=1.5).fit(*_nuisance_classes(4, 3, seed=0))
    fitted = WithinClassWhitening().fit(*_nuisance_classes(4, 3, seed=0))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(np.zeros((2, 5)))
