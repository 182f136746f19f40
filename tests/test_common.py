"""scikit-learn's standard checks on every public estimator of skfewaudio, and the
assertions those checks would make that our declared failures take with them."""

from collections import defaultdict

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.utils import estimator_checks as sk_checks
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfewaudio import MelSpectrogram, make_sounds
from skfewaudio.detection import make_event_recording
from skfewaudio.utils import all_estimators
from skfewaudio.utils._discovery import (
    expected_failed_checks,
    instance_for_tests,
    missing_test_requirements,
    testable_estimators,
)

ESTIMATORS = [instance_for_tests(cls) for _, cls in testable_estimators()]
UNTESTABLE = [(name, missing_test_requirements(cls)) for name, cls in all_estimators()
              if missing_test_requirements(cls)]
CHECKS = parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks,
                                 xfail_strict=True)
# Checks that need no (n_samples, n_features) table: they apply to every estimator,
# including those whose input is not a table (spectrogram batches, one recording).
API_CHECKS = [
    sk_checks.check_estimator_cloneable, sk_checks.check_estimator_tags_renamed,
    sk_checks.check_valid_tag_types, sk_checks.check_estimator_repr,
    sk_checks.check_no_attributes_set_in_init, sk_checks.check_parameters_default_constructible,
    sk_checks.check_get_params_invariance, sk_checks.check_set_params,
    sk_checks.check_do_not_raise_errors_in_init_or_set_params, sk_checks.check_mixin_order,
]
NOT_TABLES = [e for e in ESTIMATORS if not get_tags(e).input_tags.two_d_array]


def _name(estimator):
    return type(estimator).__name__


def test_all_estimators_found():
    names = {name for name, _ in all_estimators()}
    assert {"MelSpectrogram", "MelStatistics", "SpectralStatistics", "SpecAugment",
            "PrototypeClassifier", "FewShotEventDetector", "ProtoContrastiveClassifier"} <= names


@CHECKS
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name, missing", UNTESTABLE)  # empty with every extra installed
def test_estimators_whose_extra_is_missing_are_skipped_with_a_reason(name, missing):
    pytest.skip(f"{name}'s test settings need {missing}, from an optional extra")


def test_every_declared_failure_names_a_check_that_runs():
    ran = defaultdict(set)
    for param in CHECKS.args[1]:
        estimator, check = getattr(param, "values", param)  # xfail entries are pytest.param
        ran[_name(estimator)].add(getattr(check, "func", check).__name__)
    for estimator in ESTIMATORS:
        declared = set(expected_failed_checks(estimator))
        assert declared <= ran[_name(estimator)], (_name(estimator), declared - ran[_name(estimator)])


@pytest.mark.parametrize("estimator", NOT_TABLES, ids=_name)
@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_api_checks_of_estimators_that_take_no_table(estimator, check):
    check(_name(estimator), clone(estimator))


# ---------------------------------------------------------------------------------
# What the broad declared failures (check_transformer_general, check_classifiers_train)
# and the table-based checks assert, tested on the data each estimator really takes.
@pytest.fixture(scope="module")
def data():
    X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.25, random_state=0)
    spectrograms = MelSpectrogram(n_mels=16, n_fft=256, hop_length=128).fit_transform(X)
    recording = make_event_recording(20.0, n_events=10, sample_rate=16000, random_state=0)
    return {"waveforms": (X, y), "spectrograms": (spectrograms, None), "recording": recording}


def _data_for(estimator, data):
    if _name(estimator) == "FewShotEventDetector":
        return data["recording"]
    if _name(estimator) == "SpecAugment":
        return data["spectrograms"]
    return data["waveforms"]


def _outputs(estimator, X):
    methods = [m for m in ("predict", "predict_proba", "decision_function", "transform")
               if hasattr(estimator, m)]
    return {m: getattr(estimator, m)(X) for m in methods}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_name)
def test_fit_is_idempotent_and_returns_self(estimator, data):
    X, y = _data_for(estimator, data)
    first = clone(estimator)
    assert first.fit(X, y) is first
    before = _outputs(first, X)
    after = _outputs(first.fit(X, y), X)
    for method, values in before.items():
        if np.asarray(values).dtype.kind == "f":  # float32 kernels: equal to rounding
            np.testing.assert_allclose(after[method], values, rtol=1e-5, atol=1e-6,
                                       err_msg=method)
        else:
            np.testing.assert_array_equal(after[method], values, err_msg=method)


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if hasattr(e, "transform")
                                       and _name(e) != "SpecAugment"], ids=_name)
def test_fit_transform_equals_fit_then_transform(estimator, data):
    X, y = _data_for(estimator, data)
    together = clone(estimator).fit_transform(X, y)
    apart = clone(estimator).fit(X, y).transform(X)
    np.testing.assert_allclose(together, apart, rtol=1e-5, atol=1e-6)
    assert together.shape[0] == len(X)


def test_spec_augment_masks_in_fit_transform_only(data):
    from skfewaudio import SpecAugment

    X, _ = data["spectrograms"]
    aug = SpecAugment(random_state=0)
    masked = aug.fit_transform(X)
    assert not np.array_equal(masked, X)
    np.testing.assert_array_equal(aug.transform(X), X)  # by design, unlike other transformers


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if is_classifier(e)], ids=_name)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_outputs_agree(estimator, n_classes, data):
    X, y = data["waveforms"]
    keep = np.isin(y, np.unique(y)[:n_classes])
    X, y = X[keep], y[keep]
    clf = clone(estimator).fit(X, y)
    predicted = clf.predict(X)
    assert predicted.shape == (len(X),) and set(predicted) <= set(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    scores = clf.decision_function(X)
    if n_classes == 2:  # scikit-learn's convention: positive means classes_[1]
        assert scores.shape == (len(X),)
        np.testing.assert_array_equal(clf.classes_[(scores > 0).astype(int)], predicted)
    else:
        assert scores.shape == (len(X), n_classes)
        np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], predicted)
