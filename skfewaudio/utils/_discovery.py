"""Find every public estimator of the package, as scikit-learn's ``all_estimators``."""

import importlib
import importlib.util
import inspect
import pkgutil

from sklearn.base import BaseEstimator

def all_estimators():
    """Return ``(name, class)`` for every public estimator class in skfewaudio.

    Public means listed in the ``__all__`` of a public package (the top level or a
    subpackage such as ``skfewaudio.clap``), so new estimators are found without
    registration while internal helpers (e.g. skorch nets) are not.
    """
    import skfewaudio

    found = {}
    packages = [skfewaudio] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(skfewaudio.__path__, "skfewaudio.")
        if info.ispkg and not any(p.startswith("_") for p in info.name.split(".")[1:])
    ]
    for package in packages:
        for name in getattr(package, "__all__", []):
            obj = getattr(package, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[name] = obj
    return sorted(found.items())


def missing_test_requirements(cls):
    """Optional packages (import names) that the class's test settings need but that
    are not installed; such estimators are skipped by the test-suite, with a reason."""
    needed = getattr(cls, "_test_requires", ())
    return [name for name in needed if importlib.util.find_spec(name) is None]


def testable_estimators():
    """``(name, class)`` of the public estimators whose test settings can run here."""
    return [(name, cls) for name, cls in all_estimators() if not missing_test_requirements(cls)]


testable_estimators.__test__ = False  # its name starts with "test": not a test for pytest


def instance_for_tests(cls):
    """An instance with the class's small, fast test settings, if it declares any."""
    params = cls.get_test_params() if hasattr(cls, "get_test_params") else {}
    return cls(**params)


def expected_failed_checks(estimator):
    """The checks an estimator declares it cannot pass, with reasons."""
    return dict(getattr(estimator, "_expected_failed_checks", {}))
