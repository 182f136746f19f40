"""scikit-learn's standard checks on every public estimator of skfewaudio."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfewaudio.utils import all_estimators
from skfewaudio.utils._discovery import expected_failed_checks, instance_for_tests

ESTIMATORS = [instance_for_tests(cls) for _, cls in all_estimators()]


def test_all_estimators_found():
    names = {name for name, _ in all_estimators()}
    assert {"MelSpectrogram", "MelStatistics", "SpecAugment", "PrototypeClassifier"} <= names


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
