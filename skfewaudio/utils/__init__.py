"""Developer utilities: estimator discovery for the common tests."""

from ._discovery import all_estimators

__all__ = ["all_estimators"]
