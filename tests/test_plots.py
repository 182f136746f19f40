"""Review plots and the leave-one-out predictions behind them."""

import numpy as np
import pytest

from skfewaudio import PrototypeClassifier, make_sounds
from skfewaudio.plots import (
    leave_one_out_predictions,
    plot_embedding_map,
    plot_score_histograms,
    plot_support_confusion,
)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_sounds(n_classes=4, n_per_class=6, duration=0.5, random_state=4)
    y = y.copy()
    y[0] = y[6]  # one clip of the first class mislabelled, and one class of a single clip
    keep = np.r_[0:7, 12:24, 7:8]
    clf = PrototypeClassifier(metric="cosine", rejection="auto").fit(X[keep], y[keep])
    return clf, clf.transform(X[keep]), y[keep]


def test_leave_one_out_equals_refitting_without_the_clip(fitted):
    clf, Z, y = fitted
    predicted, own = leave_one_out_predictions(clf, Z, y)
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        if np.sum(y[rest] == y[i]) == 0:
            assert own[i] == np.inf
            continue
        classes = np.unique(y[rest])
        P = np.stack([Z[rest][y[rest] == c].mean(axis=0) for c in classes])
        cos = (Z[i] @ P.T) / np.linalg.norm(Z[i]) / np.linalg.norm(P, axis=1)
        assert predicted[i] == classes[np.argmax(cos)]
        assert own[i] == pytest.approx(1 - cos[classes == y[i]][0], rel=1e-4, abs=1e-6)


def test_plots_draw_one_panel_per_class(fitted):
    pytest.importorskip("matplotlib")
    clf, Z, y = fitted
    assert len(plot_support_confusion(clf, Z, y).axes) == 2  # matrix and colour bar
    histograms = plot_score_histograms(clf, Z, y, Z[:5])
    assert sum(ax.get_visible() for ax in histograms.axes) == len(clf.classes_)
    for method in ("pca", "tsne"):
        assert len(plot_embedding_map(clf, Z, y, Z[:5], method=method).axes) == 1
    with pytest.raises(ValueError, match="method must be"):
        plot_embedding_map(clf, Z, y, method="umap")


def test_missing_matplotlib_is_one_clear_error(fitted, monkeypatch):
    import sys

    clf, Z, y = fitted
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'skfewaudio\[plots\]'"):
        plot_support_confusion(clf, Z, y)
