"""Nearest-prototype few-shot classification over a fixed embedding.

Prototypes are kept as running sums and counts per class, so :meth:`partial_fit`
adds clips and classes exactly; an optional rejection threshold, chosen from
leave-one-out distances of the support clips, labels clips near no prototype as
unknown (open-set classification).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._encoders import SupportEncoderMixin
from ._prototypes import (
    METRICS,
    as_2d_embedding,
    clip_distances,
    prototype_distances,
    softmax_neg,
)
from ._validation import (
    CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS,
    check_fit_labels,
    check_query_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)


class PrototypeClassifier(ClassifierMixin, TransformerMixin, SupportEncoderMixin,
                          BaseEstimator):
    """Few-shot classifier: each class is the mean embedding of its support clips.

    A query is assigned to the class whose prototype is nearest. This is the
    prototypical-network decision rule applied to any encoder, and the baseline every
    learned method in skfewaudio is compared with.

    Parameters
    ----------
    encoder : transformer or None, default=None
        Maps clips to embeddings. ``None`` uses :class:`SpectralStatistics` (mean and
        standard deviation of log-mel bands and MFCCs, standardised by a prior
        shipped with the library: no learning). To do better in a domain unlike
        ESC-50's, fit ``SpectralStatistics(standardize="fit")`` on unlabelled clips
        of that domain and pass it wrapped in ``FrozenEstimator``. A fitted encoder is
        used as it is; an unfitted one is fitted on the support set. To keep a
        pre-trained encoder through ``clone`` and ``GridSearchCV``, wrap it in
        ``sklearn.frozen.FrozenEstimator``.
    metric : {"euclidean", "cosine"}, default="cosine"
        ``euclidean`` is the squared Euclidean distance; ``cosine`` is ``1 - cos``.
        Cosine won with the default encoder in class-disjoint cross-validation on
        the ESC-50 train classes (55.0 / 69.5 % against 50.8 / 69.2 %, 5-way 1- /
        5-shot; ``benchmarks/results/spectral_cv_esc50.md``).
    temperature : float, default=1.0
        ``predict_proba`` is ``softmax(-distance / temperature)``.
    sample_rate : int, default=16000
        Sample rate of the clips, used by the default encoder.
    rejection : None, "auto" or float, default=None
        Open-set rejection: :meth:`predict` returns ``unknown_label`` for a clip whose
        distance to its nearest prototype exceeds a threshold. ``None`` rejects
        nothing (closed set). ``"auto"`` chooses the threshold from the support set:
        the ``1 - false_rejection_rate`` quantile of the leave-one-out distances (each
        support clip's distance to the prototype of its class computed without it;
        classes need two clips or more). A float is the distance threshold itself
        (in the units of ``metric``).
    false_rejection_rate : float in [0, 1), default=0.05
        With ``rejection="auto"``: the share of known-class clips the threshold is
        meant to reject, estimated on the support set.
    unknown_label : str or int, default="unknown"
        Label :meth:`predict` gives rejected clips; must not be a class, and must be
        a string for string classes and an integer for integer classes.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted, as in scikit-learn.
    prototypes_ : ndarray of shape (n_classes, n_features)
        float32 class means, ``class_sums_ / class_counts_``.
    class_sums_ : ndarray of shape (n_classes, n_features)
        float64 sum of the embeddings of each class's clips.
    class_counts_ : ndarray of shape (n_classes,)
        Number of clips of each class.
    calibration_distances_ : ndarray of shape (n_calibration,)
        Leave-one-out distances of support clips to their class prototype
        (a uniform sample of at most 10,000 when more clips were seen).
    n_calibration_seen_ : int
        Leave-one-out distances computed so far (the sample is drawn from these).
    threshold_ : float or None
        Rejection distance in use: ``None`` without rejection, NaN while
        ``rejection="auto"`` has no class with two clips yet. It follows the current
        ``rejection`` and ``false_rejection_rate``: changing them needs no refit.
    encoder_ : transformer
        The encoder used to embed clips.

    Notes
    -----
    **Growing a classifier.** :meth:`partial_fit` updates the sums and counts, so
    memory does not grow with the clips seen (apart from the bounded calibration
    sample) and prototypes equal those of :meth:`fit` on all clips at once. Unlike
    scikit-learn's ``partial_fit``, later calls may bring new classes: few-shot
    users add classes as they meet them. With ``rejection="auto"``, each clip's
    leave-one-out distance is computed against the sums at the time it was added,
    so the threshold after several calls can differ slightly from a single fit.

    Examples
    --------
    >>> from skfewaudio import PrototypeClassifier, make_sounds
    >>> X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.5, random_state=0)
    >>> clf = PrototypeClassifier().fit(X[::2], y[::2])
    >>> clf.predict(X[1::2]).shape
    (6,)
    >>> grown = PrototypeClassifier(rejection="auto").fit(X[::2], y[::2])
    >>> int(grown.partial_fit(X[1:2], y[1:2]).class_counts_.sum())
    7
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["fit", "transform"]), None],
        "metric": [StrOptions(set(METRICS))],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "rejection": [None, StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "false_rejection_rate": [Interval(Real, 0, 1, closed="left")],
        "unknown_label": [str, Integral],
    }

    def __init__(self, encoder=None, *, metric="cosine", temperature=1.0, sample_rate=16000,
                 rejection=None, false_rejection_rate=0.05, unknown_label="unknown"):
        self.encoder = encoder
        self.metric = metric
        self.temperature = temperature
        self.sample_rate = sample_rate
        self.rejection = rejection
        self.false_rejection_rate = false_rejection_rate
        self.unknown_label = unknown_label

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
        X, y = self._fit_support_encoder(X, y)
        for name in _SUM_STATE:  # a refit starts from nothing
            self.__dict__.pop(name, None)
        self._add(X, y, classes=None)
        return self

    def partial_fit(self, X, y, classes=None):
        """Add support clips, of known or new classes, to the prototypes.

        The result equals :meth:`fit` on every clip given so far (see Notes). This
        is exact only when the encoder learns nothing from the support set: the
        default encoder, or a fitted (e.g. ``FrozenEstimator``-wrapped) one.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            New support clips (any number, even one).
        y : array-like of shape (n_clips,)
            Their classes; classes not seen before are added.
        classes : array-like or None, default=None
            Classes to declare ahead of their clips (scikit-learn's convention for a
            first call). A declared class needs a clip before :meth:`predict`.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If the encoder would have to be fitted on the support set.
        """
        first = not hasattr(self, "classes_")
        if first:
            self._validate_params()
        encoder = self._ready_encoder()
        if encoder is None:
            raise ValueError(
                f"partial_fit needs an encoder that learns nothing from the support set, "
                f"but {type(self.encoder).__name__} is not fitted and fit would fit it on "
                "the clips; fit the encoder first and pass it wrapped in "
                "sklearn.frozen.FrozenEstimator, or use fit on all clips."
            )
        X = validate_fit_audio(self, X) if first else validate_audio_after_fit(self, X)
        y = check_fit_labels(X, y, min_classes=1, estimator=self)
        if first:
            self.encoder_ = encoder
        self._add(X, y, classes=classes)
        return self

    def _add(self, X, y, classes):
        """Embed clips and add them to the running sums, counts and calibration."""
        embeddings = as_2d_embedding(self.encoder_.transform(X)).astype(np.float64)
        labels = np.unique(y) if classes is None else np.union1d(np.unique(y), classes)
        if self.rejection is not None:  # before any state changes
            self._check_unknown_label(labels)
        self._include_classes(labels, embeddings.shape[1])
        codes = np.searchsorted(self.classes_, y)
        np.add.at(self.class_sums_, codes, embeddings)
        self.class_counts_ += np.bincount(codes, minlength=len(self.classes_))
        with np.errstate(invalid="ignore", divide="ignore"):  # declared, empty: NaN
            self.prototypes_ = (self.class_sums_ / self.class_counts_[:, None]).astype(np.float32)
        own = leave_one_out_distances(embeddings, codes, self.class_sums_, self.class_counts_,
                                      self.metric)[np.arange(len(codes)), codes]
        self.calibration_distances_, self.n_calibration_seen_ = _reservoir_add(
            self.calibration_distances_, self.n_calibration_seen_, own[np.isfinite(own)])

    def _include_classes(self, labels, n_features):
        """Merge ``labels`` into the sorted ``classes_``, with empty sums for new ones."""
        if not hasattr(self, "classes_"):
            self.classes_ = np.asarray(labels)
            self.class_sums_ = np.zeros((len(labels), n_features))
            self.class_counts_ = np.zeros(len(labels), dtype=np.int64)
            self.calibration_distances_ = np.empty(0)
            self.n_calibration_seen_ = 0
            return
        if n_features != self.class_sums_.shape[1]:
            raise ValueError(
                f"the encoder now gives {n_features} features per clip but the prototypes "
                f"have {self.class_sums_.shape[1]}; the encoder changed since fit, so "
                "refit on all clips."
            )
        if (np.asarray(labels).dtype.kind in "US") != (self.classes_.dtype.kind in "US"):
            raise ValueError(
                f"the new labels {np.asarray(labels).tolist()} and the classes "
                f"{self.classes_.tolist()} mix strings and numbers; use one kind of label."
            )
        merged = np.union1d(self.classes_, labels)
        where = np.searchsorted(merged, self.classes_)
        sums = np.zeros((len(merged), n_features))
        counts = np.zeros(len(merged), dtype=np.int64)
        sums[where], counts[where] = self.class_sums_, self.class_counts_
        self.classes_, self.class_sums_, self.class_counts_ = merged, sums, counts

    def _check_unknown_label(self, classes=None):
        """Raise unless ``unknown_label`` fits ``classes`` (default: ``classes_``)."""
        classes = self.classes_ if classes is None else np.asarray(classes)
        label, integer_classes = self.unknown_label, classes.dtype.kind in "iu"
        if integer_classes != isinstance(label, Integral):
            kind = "integers" if integer_classes else "not integers"
            raise ValueError(
                f"the classes are {kind} but unknown_label={label!r}; give an unknown_label "
                "of the same kind (e.g. -1 for integer classes)."
            )
        if label in classes.tolist():
            raise ValueError(
                f"unknown_label={label!r} is one of the classes; choose another label for "
                "rejected clips."
            )

    @property
    def threshold_(self):
        """Rejection distance in use (None without rejection).

        Computed from the current ``rejection`` and ``false_rejection_rate`` and the
        fitted ``calibration_distances_``, so changing either parameter with
        ``set_params`` needs no refit. NaN while ``rejection="auto"`` has no class
        with two clips.
        """
        calibration = self.calibration_distances_
        if self.rejection is None:
            return None
        if self.rejection != "auto":
            return float(self.rejection)
        if len(calibration) == 0:
            return float("nan")
        return float(np.quantile(calibration, 1 - self.false_rejection_rate))

    def _distances(self, X):
        check_is_fitted(self)
        return self._embedding_distances(self.transform(X))

    def _embedding_distances(self, embeddings):
        """Distances (n_clips, n_classes) of embeddings (from :meth:`transform`)."""
        empty = self.class_counts_ == 0
        if empty.any():
            raise ValueError(
                f"classes {self.classes_[empty].tolist()} were declared with classes= but "
                "have no clips yet; give each at least one clip with partial_fit."
            )
        return clip_distances(embeddings, self.prototypes_, self.metric)

    def score_samples(self, X):
        """Knownness of each clip: minus its distance to the nearest prototype.

        Higher means more like a known class. With rejection on, :meth:`predict`
        rejects the clips whose score is below ``-threshold_``.

        Returns
        -------
        scores : ndarray of shape (n_clips,)
        """
        return -self._distances(X).min(axis=1)

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
        """Class of the nearest prototype, shape (n_clips,).

        With rejection on, clips farther than ``threshold_`` from every prototype
        get ``unknown_label``.
        """
        return self._labels(self._distances(X))

    def _labels(self, distances):
        """Predicted labels from distances to the prototypes (see :meth:`predict`)."""
        nearest = np.argmin(distances, axis=1)
        labels = self.classes_[nearest]
        if self.rejection is None:
            return labels
        rejected = distances[np.arange(len(nearest)), nearest] > self._usable_threshold()
        out = labels.astype(np.result_type(labels, np.asarray([self.unknown_label])))
        out[rejected] = self.unknown_label
        return out

    def _usable_threshold(self):
        self._check_unknown_label()
        threshold = self.threshold_
        if np.isnan(threshold):
            raise ValueError(
                "rejection='auto' sets the threshold from leave-one-out distances within "
                "classes, but no class has two clips yet; add a second clip of a class, or "
                "give rejection a distance threshold, or None (on the command line: "
                "--rejection 0.3, or none)."
            )
        return threshold

    def score(self, X, y, sample_weight=None):
        """Accuracy on labelled queries; their labels must all be support classes
        (or ``unknown_label`` when rejection is on)."""
        check_is_fitted(self)
        known = self.classes_ if self.rejection is None else np.append(
            self.classes_.astype(object), self.unknown_label)
        check_query_labels(y, known)
        return super().score(X, y, sample_weight=sample_weight)

    _expected_failed_checks = {
        **CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS,
        "check_estimators_partial_fit_n_features": (
            "clips of any length are accepted by partial_fit too: the number of samples "
            "is not a fixed feature count (a changed embedding size is refused, tested)"
        ),
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# Fitted state a refit discards (partial_fit accumulates into it).
_SUM_STATE = ("classes_", "class_sums_", "class_counts_", "prototypes_",
              "calibration_distances_", "n_calibration_seen_")
_MAX_CALIBRATION = 10_000  # leave-one-out distances kept for the rejection quantile


def leave_one_out_distances(embeddings, codes, sums, counts, metric):
    """Distances of clips to every prototype, their own class's computed without them.

    Parameters
    ----------
    embeddings : ndarray of shape (n_clips, n_features)
        Clips that are already included in ``sums`` and ``counts``.
    codes : ndarray of shape (n_clips,)
        Index of each clip's class.
    sums : ndarray of shape (n_classes, n_features)
    counts : ndarray of shape (n_classes,)
    metric : {"euclidean", "cosine"}

    Returns
    -------
    distances : ndarray of shape (n_clips, n_classes)
        ``inf`` for a clip's own class when it is that class's only clip, and for
        classes with no clips.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = prototype_distances(embeddings, sums / counts[:, None], metric)
    distances[:, counts == 0] = np.inf
    rest = counts[codes] - 1
    alone = rest == 0
    held_out = (sums[codes[~alone]] - embeddings[~alone]) / rest[~alone, None]
    rows = np.flatnonzero(~alone)
    distances[rows, codes[rows]] = prototype_distances(
        embeddings[rows, None, :], held_out[:, None, :], metric)[:, 0, 0]
    distances[np.flatnonzero(alone), codes[alone]] = np.inf
    return distances


def _reservoir_add(kept, n_seen, values):
    """Add ``values`` to a uniform sample (Algorithm R) of at most _MAX_CALIBRATION.

    Seeded by the count seen, so the same clips in the same calls give the same sample.
    """
    room = max(0, _MAX_CALIBRATION - len(kept))
    kept = np.concatenate([kept, values[:room]])
    rest = values[room:]
    if len(rest):
        slots = np.random.default_rng(n_seen).integers(0, n_seen + room + np.arange(len(rest)) + 1)
        for slot, value in zip(slots, rest):
            if slot < _MAX_CALIBRATION:
                kept[slot] = value
    return kept, n_seen + len(values)
