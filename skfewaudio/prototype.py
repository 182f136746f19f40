"""Nearest-prototype few-shot classification over a fixed embedding."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._prototypes import METRICS, as_2d_embedding, prototype_distances, softmax_neg
from ._validation import (
    CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS,
    check_labels,
    check_query_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .features import MelStatistics


class PrototypeClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Few-shot classifier: each class is the mean embedding of its support clips.

    A query is assigned to the class whose prototype is nearest. This is the
    prototypical-network decision rule applied to any encoder, and the baseline every
    learned method in skfewaudio is compared with.

    Parameters
    ----------
    encoder : transformer or None, default=None
        Maps clips to embeddings. ``None`` uses :class:`MelStatistics` (mean and
        standard deviation of each log-mel band: no learning). A fitted encoder is
        used as it is; an unfitted one is fitted on the support set. To keep a
        pre-trained encoder through ``clone`` and ``GridSearchCV``, wrap it in
        ``sklearn.frozen.FrozenEstimator``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``euclidean`` is the squared Euclidean distance; ``cosine`` is ``1 - cos``.
    temperature : float, default=1.0
        ``predict_proba`` is ``softmax(-distance / temperature)``.
    sample_rate : int, default=16000
        Sample rate of the clips, used by the default encoder.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    prototypes_ : ndarray of shape (n_classes, n_features)
    encoder_ : transformer
        The encoder used to embed clips.

    Examples
    --------
    >>> from skfewaudio import PrototypeClassifier, make_sounds
    >>> X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.5, random_state=0)
    >>> clf = PrototypeClassifier().fit(X[::2], y[::2])
    >>> clf.predict(X[1::2]).shape
    (6,)
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["fit", "transform"]), None],
        "metric": [StrOptions(set(METRICS))],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, encoder=None, *, metric="euclidean", temperature=1.0, sample_rate=16000):
        self.encoder = encoder
        self.metric = metric
        self.temperature = temperature
        self.sample_rate = sample_rate

    def fit(self, X, y):
        """Embed the support set and average each class.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Support clips (or spectrograms of shape (n_clips, n_mels, n_frames) when
            the encoder takes them).
        y : array-like of shape (n_clips,)
            Their classes; at least two.

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_fit_audio(self, X)
        y = check_labels(y, len(X), estimator=self)
        encoder = self._ready_encoder()
        # Explicit None tests: a Pipeline encoder defines __len__, so `or` would misfire.
        self.encoder_ = clone(self.encoder).fit(X, y) if encoder is None else encoder
        embeddings = as_2d_embedding(self.encoder_.transform(X))
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.prototypes_ = np.stack(
            [embeddings[codes == k].mean(axis=0) for k in range(len(self.classes_))]
        )
        return self

    def transform(self, X):
        """Embed clips with the encoder.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features)
        """
        X = validate_audio_after_fit(self, X)
        return as_2d_embedding(self.encoder_.transform(X))

    def _distances(self, X):
        return prototype_distances(self.transform(X), self.prototypes_, self.metric)

    def decision_function(self, X):
        """Negative distance to each prototype.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_classes), or (n_clips,) for two classes
            With two classes, as scikit-learn expects, ``d(class 0) - d(class 1)``:
            positive means ``classes_[1]``.
        """
        scores = -self._distances(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict_proba(self, X):
        """Softmax over negative distances, shape (n_clips, n_classes)."""
        return softmax_neg(self._distances(X), self.temperature)

    def predict(self, X):
        """Class of the nearest prototype, shape (n_clips,)."""
        nearest = np.argmin(self._distances(X), axis=1)
        return self.classes_[nearest]

    def score(self, X, y, sample_weight=None):
        """Accuracy on labelled queries; their labels must all be support classes."""
        check_is_fitted(self)
        check_query_labels(y, self.classes_)
        return super().score(X, y, sample_weight=sample_weight)

    def _episode_embedder(self):
        """The fitted encoder all episodes can share, or None if it must be fitted."""
        fitted = getattr(self, "encoder_", None)
        return self._ready_encoder() if fitted is None else fitted

    def _ready_encoder(self):
        """The encoder if it needs no fitting on the support set, else None."""
        if self.encoder is None:
            return MelStatistics(sample_rate=self.sample_rate).fit(_ONE_SILENT_CLIP)
        try:
            check_is_fitted(self.encoder)
        except NotFittedError:
            return None
        return self.encoder

    _expected_failed_checks = CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# MelStatistics learns nothing from data; fitting it only checks its parameters.
_ONE_SILENT_CLIP = np.ones((1, 1), dtype=np.float32)
