"""Within-class whitening of embeddings, learned on labelled base classes."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class WithinClassWhitening(TransformerMixin, BaseEstimator):
    """Scale down the directions along which clips of one class vary, learned on base classes.

    An encoder trained on some classes still spends part of its embedding on
    variation that does not tell sounds apart (recording conditions, loudness, where
    the event falls in the clip). This transformer measures that variation on
    labelled clips of *base* classes, as the within-class covariance ``S_w`` of their
    embeddings, and scales each of its ``n_components`` leading eigenvectors ``u_i``
    (eigenvalue ``e_i``) by

        g_i = sqrt(shrinkage * m / ((1 - shrinkage) * e_i + shrinkage * m)),

    ``m`` the mean eigenvalue; every other direction is left as it is. This is the
    inverse square root of the shrunk covariance ``(1 - shrinkage) * S_w + shrinkage
    * m * I``, scaled to leave isotropic directions unchanged: within-class covariance
    normalisation (WCCN, Hatch et al. 2006), the back-end that speaker recognition
    systems use to score speakers never seen in training. For new sound classes it
    needs only the base classes the encoder was trained on. Embeddings are not
    centred (on ESC-50, centring on the base-class mean cost points), so a cosine or
    logistic rule after it keeps its origin.

    On ESC-50, in class-disjoint cross-validation on the train classes, it raised the
    5-way 5-shot accuracy of the meta-trained encoders' linear probe; see
    ``docs/protocontrastive.md`` for the figures and the settings chosen there.

    Parameters
    ----------
    shrinkage : float in (0, 1], default=0.97
        Weight of the isotropic part: ``1`` changes nothing, values near ``0``
        whiten fully, which with few base classes amplifies noise directions.
    n_components : int, default=64
        How many directions of largest within-class variance are scaled (all of them
        when there are fewer). On the ESC-50 encoders the rest have gains close to 1:
        scaling only the leading 64 scored as scaling all 1,664, and the fitted
        transformer stays small.

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features_in_)
        The scaled directions (orthonormal rows), largest within-class variance first.
    gains_ : ndarray of shape (n_components_,)
        Their gains ``g_i``, increasing.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skfewaudio import WithinClassWhitening
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 3) * [5.0, 1.0, 1.0]      # large within-class spread on axis 0
    >>> y = np.repeat([0, 1], 20)
    >>> W = WithinClassWhitening(shrinkage=0.5).fit(X, y)
    >>> np.round(W.transform(X).std(axis=0) / X.std(axis=0), 2)
    array([0.51, 0.96, 0.94])
    """

    _parameter_constraints = {
        "shrinkage": [Interval(Real, 0, 1, closed="right")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, shrinkage=0.97, n_components=64):
        self.shrinkage = shrinkage
        self.n_components = n_components

    def fit(self, X, y):
        """Learn the directions and gains from embeddings of labelled base-class clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
        y : array-like of shape (n_clips,)
            At least one class with two clips.

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        counts = np.bincount(codes)
        if not (counts > 1).any():
            raise ValueError("WithinClassWhitening needs a class with at least two clips to "
                             f"measure within-class variation; got {len(classes)} classes "
                             "of one clip each.")
        means = np.zeros((len(classes), X.shape[1]))
        np.add.at(means, codes, X)
        residuals = X - (means / counts[:, None])[codes]
        # S_w = R^T R / dof: its eigenvectors are R's right singular vectors, found
        # without forming the d x d matrix when there are fewer clips than features.
        _, singular, directions = np.linalg.svd(residuals, full_matrices=False)
        eigenvalues = singular**2 / (len(X) - len(classes))
        mean = eigenvalues.sum() / X.shape[1] or 1.0
        keep = slice(0, min(self.n_components, len(eigenvalues)))
        isotropic = self.shrinkage * mean
        self.gains_ = np.sqrt(isotropic / ((1 - self.shrinkage) * eigenvalues[keep]
                                           + isotropic)).astype(np.float32)
        self.components_ = directions[keep].astype(np.float32)
        return self

    def transform(self, X):
        """Embeddings with each direction of ``components_`` scaled by its gain.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)

        Returns
        -------
        X_new : ndarray of shape (n_clips, n_features), float32
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return X - ((X @ self.components_.T) * (1 - self.gains_)) @ self.components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
