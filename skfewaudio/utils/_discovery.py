"""Find every public estimator of the package, as scikit-learn's ``all_estimators``."""

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

def all_estimators():
    """Return ``(name, class)`` for every public estimator class in skfewaudio.

    Walks all non-private modules, so new estimators are found without registration.
    """
    import skfewaudio

    found = {}
    for module_info in pkgutil.walk_packages(skfewaudio.__path__, "skfewaudio."):
        parts = module_info.name.split(".")
        # Private subpackages are internal; __main__ would run the command line.
        if parts[-1] == "__main__" or any(p.startswith("_") for p in parts[1:-1]):
            continue
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, BaseEstimator) and not name.startswith("_")
                    and cls.__module__.startswith("skfewaudio")
                    and not inspect.isabstract(cls)):
                found[name] = cls
    return sorted(found.items())


def test_instance(cls):
    """An instance with the class's small, fast test settings, if it declares any."""
    params = cls.get_test_params() if hasattr(cls, "get_test_params") else {}
    return cls(**params)


def expected_failed_checks(estimator):
    """The checks an estimator declares it cannot pass, with reasons."""
    return dict(getattr(estimator, "_expected_failed_checks", {}))
