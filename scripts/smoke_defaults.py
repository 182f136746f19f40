"""Every default estimator fits and predicts on a core install (no extras).

Run by scripts/check_core_install.sh in a clean virtual environment. Training budgets
are cut to one epoch; every other setting is the default.
"""

import importlib.util
import sys
import time

import numpy as np
from sklearn.frozen import FrozenEstimator

import skfewaudio
from skfewaudio import (
    FewShotEventDetector,
    FineTuneClassifier,
    MelSpectrogram,
    MelStatistics,
    MultiGrainedCLAPAdapter,
    PrototypeClassifier,
    ProtoContrastiveClassifier,
    SpecAugment,
    SpectralStatistics,
    SupConPretrainer,
    make_sounds,
)
from skfewaudio.detection import make_event_recording

OPTIONAL = ["ot", "transformers", "matplotlib", "faiss", "dask", "msclap"]


def main():
    present = [name for name in OPTIONAL if importlib.util.find_spec(name) is not None]
    if present:
        sys.exit(f"not a core install: optional packages {present} are importable")
    print(f"skfewaudio {skfewaudio.__version__} from {skfewaudio.__file__}")
    X, y = make_sounds(n_classes=10, n_per_class=10, duration=5.0, random_state=0)
    few = np.isin(y, np.unique(y)[:3])
    Xs, ys = X[few][::2], y[few][::2]
    checks = {
        "PrototypeClassifier()": lambda: PrototypeClassifier().fit(Xs, ys).predict(X[few]),
        "ProtoContrastiveClassifier()": lambda: ProtoContrastiveClassifier(
            max_epochs=1, episodes_per_epoch=1).fit(X, y).predict(X[:4]),
        "MelSpectrogram()": lambda: MelSpectrogram().fit_transform(Xs),
        "MelStatistics()": lambda: MelStatistics().fit_transform(Xs),
        # Its shipped prior is package data: this fails if an install leaves it out.
        "SpectralStatistics()": lambda: SpectralStatistics().fit_transform(Xs),
        "SpecAugment()": lambda: SpecAugment().fit_transform(MelSpectrogram().fit_transform(Xs)),
        "FewShotEventDetector()": lambda: FewShotEventDetector().fit_predict(
            *make_event_recording(30.0, n_events=10, random_state=0)),
    }
    for name, run in checks.items():
        _timed(name, run)
    pre = _timed("SupConPretrainer()", lambda: SupConPretrainer(max_epochs=1).fit(Xs, ys))
    _timed("FineTuneClassifier(pretrained)",
           lambda: FineTuneClassifier(FrozenEstimator(pre)).fit(Xs, ys).predict(Xs))
    # The CLAP adapter needs a pretrained audio-language model: an extra, and weights.
    try:
        MultiGrainedCLAPAdapter().fit(Xs, ys)
    except ImportError as exc:
        assert "pip install" in str(exc), exc
        print(f"MultiGrainedCLAPAdapter(): needs the clap extra, says so: {exc}")
    else:
        sys.exit("MultiGrainedCLAPAdapter() fitted without msclap: the smoke test is stale")


def _timed(name, run):
    start = time.perf_counter()
    out = run()
    print(f"{name}: ok ({time.perf_counter() - start:.1f} s)")
    return out


if __name__ == "__main__":
    main()
