"""The one rule for a user's encoder: a fitted one is used as it is, an unfitted one
is fitted (as a clone) on the data at hand."""

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted


def fitted_or_none(estimator):
    """``estimator`` if it is fitted (a ``FrozenEstimator`` of a fitted one counts),
    else None."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return None
    return estimator


def fitted_or_fit_clone(estimator, X, y=None):
    """``estimator`` if fitted, else a clone of it fitted on ``X`` (and ``y``)."""
    fitted = fitted_or_none(estimator)
    return clone(estimator).fit(X, y) if fitted is None else fitted
