"""Few-shot classification by logistic regression on the support embeddings."""

from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from ._encoders import SupportEncoderMixin
from .episodes._evaluate import blockwise_episode_accuracies
from ._logistic import fit_logistic, logistic_scores
from ._prototypes import as_2d_embedding, normalize, softmax_neg
from ._validation import (
    CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS,
    check_query_labels,
    validate_audio_after_fit,
)


class LinearProbeClassifier(ClassifierMixin, TransformerMixin, SupportEncoderMixin,
                            BaseEstimator):
    """Few-shot classifier: logistic regression on the L2-normalised support embeddings.

    A nearest-prototype rule weighs every feature alike; a linear probe learns, from
    the support clips themselves, which features tell this episode's classes apart.
    With several clips per class that is worth a lot: with the default encoder, in
    class-disjoint cross-validation on the ESC-50 train classes, 5-way 5-shot
    accuracy rose from 69.45 % (nearest cosine prototype) to 74.00 %; with one clip
    per class the two are level, 55.13 against 54.95 % (``docs/episodes.md``).

    It is an L2-penalised multinomial logistic regression, exactly scikit-learn's
    ``LogisticRegression(C=C)`` on the normalised embeddings, solved in the span of
    the support embeddings so that thousands of evaluation episodes are solved at
    once. Unlike :class:`PrototypeClassifier` it has no ``partial_fit`` and no
    open-set rejection.

    Parameters
    ----------
    encoder : transformer or None, default=None
        Maps clips to embeddings, as in :class:`PrototypeClassifier`: ``None`` uses
        :class:`SpectralStatistics` (no learning); a fitted encoder is used as it is
        (wrap it in ``sklearn.frozen.FrozenEstimator`` to keep it through ``clone``);
        an unfitted one is fitted on the support set.
    C : float, default=10.0
        Inverse strength of the L2 penalty on the weights. Embeddings are normalised
        to unit length first, so C means the same for every encoder.
    sample_rate : int, default=16000
        Sample rate of the clips, used by the default encoder.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    encoder_ : transformer

    Examples
    --------
    >>> from skfewaudio import LinearProbeClassifier, make_sounds
    >>> X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.5, random_state=0)
    >>> clf = LinearProbeClassifier().fit(X[::2], y[::2])
    >>> clf.predict(X[1::2]).shape
    (6,)
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["fit", "transform"]), None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, encoder=None, *, C=10.0, sample_rate=16000):
        self.encoder = encoder
        self.C = C
        self.sample_rate = sample_rate

    def fit(self, X, y):
        """Embed the support set and fit the regression.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Support clips (or spectrograms, when the encoder takes them).
        y : array-like of shape (n_clips,)
            Their classes; at least two.

        Returns
        -------
        self
        """
        X, y = self._fit_support_encoder(X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        coef, intercept = fit_logistic(self._embed(X)[None], codes[None], len(self.classes_),
                                       self.C)
        self.coef_, self.intercept_ = coef[0], intercept[0]
        return self

    def _embed(self, X):
        return normalize(as_2d_embedding(self.encoder_.transform(X)).astype(np.float64))

    def _logits(self, X):
        X = validate_audio_after_fit(self, X)
        return logistic_scores(self._embed(X), self.coef_, self.intercept_)

    def decision_function(self, X):
        """Logits of each class.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_classes), or (n_clips,) for two classes
            With two classes, as scikit-learn expects, positive means ``classes_[1]``.
        """
        scores = self._logits(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict_proba(self, X):
        """Softmax of the logits, shape (n_clips, n_classes)."""
        return softmax_neg(-self._logits(X))

    def predict(self, X):
        """Most probable class, shape (n_clips,)."""
        best = np.argmax(self.predict_proba(X), axis=1)  # checks it is fitted first
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Accuracy on labelled queries, whose labels must all be support classes."""
        check_is_fitted(self)
        check_query_labels(y, self.classes_)
        return super().score(X, y, sample_weight=sample_weight)

    def _episode_accuracies(self, embeddings, support, query, progress=False):
        """Accuracy of each episode on embeddings computed once (see
        :func:`~skfewaudio.evaluate_episodes`)."""
        return probe_episode_accuracies(embeddings, support, query, self.C,
                                        progress=progress)

    _expected_failed_checks = CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def probe_episode_accuracies(embeddings, support, query, C, *, progress=False):
    """Linear-probe accuracy of each episode on precomputed embeddings, the episodes of
    a block solved together.

    Parameters
    ----------
    embeddings : ndarray of shape (n_clips, n_features)
    support, query : ndarray of shape (n_episodes, n_way, n_shot / n_query)
        Indices into ``embeddings``, as :meth:`EpisodeSampler.sample` returns them.
    C : float
    progress : bool
        Show a progress bar.

    Returns
    -------
    accuracies : ndarray of shape (n_episodes,)
    """
    embeddings = normalize(np.asarray(embeddings, dtype=np.float64))
    return blockwise_episode_accuracies(embeddings, support, query,
                                        partial(probe_predictions, C=C), progress=progress)


def probe_predictions(shots, queries, C):
    """Class index (into n_way) of each query by one probe per episode.

    Parameters
    ----------
    shots : ndarray of shape (n_episodes, n_way, n_shot, n_features)
    queries : ndarray of shape (n_episodes, n_queries, n_features)
    C : float

    Returns
    -------
    predictions : ndarray of shape (n_episodes, n_queries)
    """
    return probe_logits(shots, queries, C).argmax(axis=2)


def probe_logits(shots, queries, C):
    """Logits of shape (n_episodes, n_queries, n_way) of the queries under one probe
    per episode, fitted on ``shots`` (see :func:`probe_predictions`)."""
    n_episodes, n_way, n_shot, n_features = shots.shape
    labels = np.repeat(np.arange(n_way), n_shot)
    coef, intercept = fit_logistic(shots.reshape(n_episodes, -1, n_features),
                                   np.broadcast_to(labels, (n_episodes, len(labels))),
                                   n_way, C)
    return logistic_scores(queries, coef, intercept)
