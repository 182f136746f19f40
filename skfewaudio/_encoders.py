"""The one rule for a user's encoder: a fitted one is used as it is, an unfitted one
is fitted (as a clone) on the data at hand."""

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .features import SpectralStatistics


def fitted_or_none(estimator):
    """``estimator`` if it is fitted (a ``FrozenEstimator`` of a fitted one counts),
    else None."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return None
    return estimator


# A learning-free encoder's fit (MelStatistics, SpectralStatistics with its shipped
# prior) only checks its parameters; a clip that is not silent keeps the silent-clip
# warning, meant for users' data, out of it.
_PARAMETER_CHECK_CLIP = np.ones((1, 1), dtype=np.float32)


def fit_without_data(encoder):
    """Fit a learning-free encoder (one whose fit learns nothing from its clips)."""
    return encoder.fit(_PARAMETER_CHECK_CLIP)


def ready_encoder(encoder, sample_rate):
    """The encoder a few-shot classifier can use before seeing its support set:
    ``encoder`` if fitted, the learning-free :class:`SpectralStatistics` when it is
    None, else None (an unfitted encoder must be fitted on the support set)."""
    if encoder is None:
        return fit_without_data(SpectralStatistics(sample_rate=sample_rate))
    return fitted_or_none(encoder)


def fitted_or_fit_clone(estimator, X, y=None):
    """``estimator`` if fitted, else a clone of it fitted on ``X`` (and ``y``)."""
    fitted = fitted_or_none(estimator)
    return clone(estimator).fit(X, y) if fitted is None else fitted
