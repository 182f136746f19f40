"""Plots for reviewing a few-shot classifier: leave-one-out confusion, embedding map,
score histograms with the rejection threshold.

Needs matplotlib (``pip install 'skfewaudio[plots]'``). Figures are drawn with
``matplotlib.figure.Figure`` and its Agg canvas, never through ``pyplot``, so the
plotting backend of the calling program is left alone and no display is needed.
Every function takes embeddings (from ``classifier.transform``), so clips are
embedded once for all plots.
"""

from pathlib import Path

import numpy as np

from ._prototypes import normalize, prototype_distances
from .prototype import leave_one_out_distances

__all__ = [
    "leave_one_out_predictions",
    "plot_embedding_map",
    "plot_score_histograms",
    "plot_support_confusion",
    "save_classification_plots",
]

_UNKNOWN_COLOUR = "0.55"


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'skfewaudio[plots]'.") from None
    return Figure(layout="constrained", **kwargs)


def leave_one_out_predictions(classifier, embeddings, y):
    """Predict each support clip from the prototypes of the other support clips.

    Parameters
    ----------
    classifier : fitted PrototypeClassifier
        Gives the metric (its own prototypes are not used).
    embeddings : ndarray of shape (n_clips, n_features)
        The support clips, embedded (``classifier.transform(X)``).
    y : array-like of shape (n_clips,)

    Returns
    -------
    predicted : ndarray of shape (n_clips,)
        The nearest class without the clip itself; for a clip that is the only one
        of its class, the nearest other class.
    own_distance : ndarray of shape (n_clips,)
        Distance to its own class's leave-one-out prototype (inf when alone).
    """
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    embeddings = np.asarray(embeddings, dtype=np.float64)
    sums = np.zeros((len(classes), embeddings.shape[1]))
    np.add.at(sums, codes, embeddings)
    counts = np.bincount(codes, minlength=len(classes))
    distances = leave_one_out_distances(embeddings, codes, sums, counts, classifier.metric)
    return classes[distances.argmin(axis=1)], distances[np.arange(len(codes)), codes]


def plot_support_confusion(classifier, embeddings, y, *, figure=None):
    """Confusion matrix of leave-one-out predictions on the support set.

    Each support clip is classified by the prototypes of the others: the rows of a
    mislabelled or atypical clip show up off the diagonal. Clips that are alone in
    their class cannot be left out and are not counted.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    y = np.asarray(y)
    predicted, own = leave_one_out_predictions(classifier, embeddings, y)
    counted = np.isfinite(own)
    classes = np.unique(y)
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(matrix, (np.searchsorted(classes, y[counted]),
                       np.searchsorted(classes, predicted[counted])), 1)
    size = 2.2 + 0.45 * len(classes)
    figure = figure or _figure(figsize=(size + 1, size))
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, value, ha="center", va="center",
                    color="white" if value > matrix.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [str(c) for c in classes])
    ax.set(xlabel="predicted without the clip", ylabel="support label")
    accuracy = np.mean(predicted[counted] == y[counted]) if counted.any() else float("nan")
    note = f", {np.sum(~counted)} single-clip classes' clips left out" if (~counted).any() else ""
    ax.set_title(f"Leave-one-out on the support set: {100 * accuracy:.0f}% of "
                 f"{counted.sum()} clips{note}", fontsize=9)
    figure.colorbar(image, ax=ax, shrink=0.8)
    return figure


def plot_embedding_map(classifier, embeddings, y, query_embeddings=None, *,
                       method="pca", random_state=0, figure=None):
    """2-D map of support clips, their prototypes and (optionally) query clips.

    With the cosine metric the embeddings are scaled to unit length first, so that
    distances on the map follow the classifier's metric. Query points are coloured
    by their predicted class, grey when rejected as unknown.

    Parameters
    ----------
    classifier : fitted PrototypeClassifier
    embeddings : ndarray of shape (n_support, n_features)
    y : array-like of shape (n_support,)
    query_embeddings : ndarray of shape (n_queries, n_features) or None
    method : {"pca", "tsne"}, default="pca"
        scikit-learn's ``PCA`` or ``TSNE`` (t-SNE shows local neighbourhoods; its
        axes and distances between clusters carry no meaning).
    random_state : int, default=0

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    y = np.asarray(y)
    queries = np.empty((0, embeddings.shape[1])) if query_embeddings is None else query_embeddings
    points = np.concatenate([embeddings, queries, classifier.prototypes_]).astype(np.float64)
    if classifier.metric == "cosine":
        points = normalize(points)
    if method == "pca":
        mapped = PCA(n_components=2, random_state=random_state).fit_transform(points)
    else:
        perplexity = float(min(30, max(2, (len(points) - 1) / 3)))
        mapped = TSNE(n_components=2, perplexity=perplexity, init="pca",
                      random_state=random_state).fit_transform(points)
    support_xy = mapped[:len(embeddings)]
    query_xy = mapped[len(embeddings):len(embeddings) + len(queries)]
    prototype_xy = mapped[len(embeddings) + len(queries):]
    figure = figure or _figure(figsize=(7, 5.5))
    ax = figure.subplots()
    colours = _colours(len(classifier.classes_))
    predicted = (classifier._labels(classifier._embedding_distances(queries))
                 if len(queries) else np.empty(0))
    for k, label in enumerate(classifier.classes_):
        mine = predicted == label
        ax.scatter(*query_xy[mine].T, s=14, marker="x", color=colours[k], alpha=0.6)
        ax.scatter(*support_xy[y == label].T, s=36, color=colours[k], edgecolor="black",
                   linewidth=0.5, label=str(label))
        ax.scatter(*prototype_xy[k], s=220, marker="*", color=colours[k], edgecolor="black")
    unknown = ~np.isin(predicted, classifier.classes_)
    if unknown.any():
        ax.scatter(*query_xy[unknown].T, s=14, marker="x", color=_UNKNOWN_COLOUR,
                   label=f"query: {classifier.unknown_label}")
    ax.set_title(f"{method.upper()} map: support (dots), prototypes (stars), queries "
                 "(crosses, by predicted class)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    return figure


def plot_score_histograms(classifier, embeddings, y, query_embeddings=None, *, bins=20,
                          figure=None):
    """Per class: distances to the prototype, support (leave-one-out) and queries.

    One panel per class: the leave-one-out distances of its support clips (what the
    automatic threshold is chosen from), the distances of the queries whose nearest
    prototype it is, and the rejection threshold as a vertical line. Queries right of
    the line are labelled unknown.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    y = np.asarray(y)
    _, own = leave_one_out_predictions(classifier, embeddings, y)
    if query_embeddings is not None and len(query_embeddings):
        distances = prototype_distances(np.asarray(query_embeddings, dtype=np.float32),
                                        classifier.prototypes_, classifier.metric)
        nearest, query_distance = distances.argmin(axis=1), distances.min(axis=1)
    else:
        nearest, query_distance = np.empty(0, int), np.empty(0)
    finite = np.concatenate([own[np.isfinite(own)], query_distance])
    threshold = classifier.threshold_
    if threshold is not None and np.isfinite(threshold):
        finite = np.append(finite, threshold)
    edges = np.histogram_bin_edges(finite if len(finite) else [0, 1], bins=bins)
    n = len(classifier.classes_)
    columns = min(n, 3)
    rows = -(-n // columns)
    figure = figure or _figure(figsize=(3.4 * columns, 2.4 * rows))
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, squeeze=False)).ravel()
    for k, label in enumerate(classifier.classes_):
        ax = axes[k]
        support = own[(y == label) & np.isfinite(own)]
        ax.hist(query_distance[nearest == k], bins=edges, color="tab:blue", alpha=0.6,
                label="queries")
        ax.hist(support, bins=edges, color="tab:orange", alpha=0.8, label="support (LOO)")
        if threshold is not None and np.isfinite(threshold):
            ax.axvline(threshold, color="tab:red", linestyle="--", label="threshold")
        ax.set_title(str(label), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[:n]:
        ax.tick_params(labelbottom=True)  # a panel above a hidden one needs its own labels
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    figure.supxlabel(f"{classifier.metric} distance to the nearest prototype", fontsize=9)
    return figure


def save_classification_plots(classifier, X_support, y_support, X_query=None, directory=".",
                              *, method="pca"):
    """Embed once and write the three review plots as PNG files.

    Parameters
    ----------
    classifier : fitted PrototypeClassifier
    X_support : clips the classifier was fitted on (or any labelled clips)
    y_support : array-like of shape (n_support,)
    X_query : clips or None
    directory : str or Path
        Created if missing.
    method : {"pca", "tsne"}, default="pca"
        Projection of the embedding map.

    Returns
    -------
    paths : list of Path
        ``support_confusion.png``, ``embedding_map.png``, ``score_histograms.png``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    support = classifier.transform(X_support)
    queries = None if X_query is None else classifier.transform(X_query)
    figures = {
        "support_confusion.png": plot_support_confusion(classifier, support, y_support),
        "embedding_map.png": plot_embedding_map(classifier, support, y_support, queries,
                                                method=method),
        "score_histograms.png": plot_score_histograms(classifier, support, y_support, queries),
    }
    paths = []
    for name, figure in figures.items():
        figure.savefig(directory / name, dpi=110)
        paths.append(directory / name)
    return paths


def _colours(n):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
