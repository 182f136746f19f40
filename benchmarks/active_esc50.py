"""Active labelling on ESC-50: accuracy vs number of labels, ranked vs random choice.

A simulated annotator on the 5 validation classes. Per seed, each class's 40 clips
are split into 30 pool clips and 10 test clips; the classifier starts from one
labelled pool clip per class (5 labels), then in each round asks for 5 more pool
clips (chosen by a strategy), gets their true labels, grows with partial_fit, and is
scored on the 50 test clips. Strategies: random choice, and rank_for_labelling with
margin or entropy and diversity 0, 0.5 or 1 (farthest-first).

Usage: python benchmarks/active_esc50.py [--data DIR] [--seeds 50]
"""

import argparse
import textwrap

import numpy as np
from _embedded_esc50 import ENCODERS, embed, mean_ci, on_embeddings, splits
from _results import RESULTS, DEFAULT_ESC50, save_results

from skfewaudio import rank_for_labelling

STRATEGIES = {  # name -> rank_for_labelling arguments (None: random choice)
    "random": None,
    "margin": {"strategy": "margin", "diversity": 0.0},
    "margin + diversity 0.5": {"strategy": "margin", "diversity": 0.5},
    "entropy + diversity 0.5": {"strategy": "entropy", "diversity": 0.5},
    "farthest-first (diversity 1)": {"strategy": "margin", "diversity": 1.0},
}
BATCH, MAX_LABELS, TEST_PER_CLASS = 5, 50, 10


def simulate(Z, y, ranking, seed):
    """Test accuracy after 5, 10, ..., MAX_LABELS labels, shape (n_rounds,)."""
    rng = np.random.default_rng(seed)
    pool, test, labelled = [], [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test.extend(members[:TEST_PER_CLASS])
        labelled.append(members[TEST_PER_CLASS])
        pool.extend(members[TEST_PER_CLASS + 1:])
    pool, test = np.asarray(pool), np.asarray(test)
    clf = on_embeddings(metric="cosine").partial_fit(Z[labelled], y[labelled])
    accuracies = [clf.score(Z[test], y[test])]
    while clf.class_counts_.sum() < MAX_LABELS:
        if ranking is None:
            pick = rng.choice(len(pool), BATCH, replace=False)
        else:
            pick = rank_for_labelling(clf, Z[pool], n=BATCH, **ranking)
        clf.partial_fit(Z[pool[pick]], y[pool[pick]])
        pool = np.delete(pool, pick)
        accuracies.append(clf.score(Z[test], y[test]))
    return np.asarray(accuracies)


def plot(curves, path):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    labels = np.arange(BATCH, MAX_LABELS + 1, BATCH)
    for ax, (encoder, by_strategy) in zip(figure.subplots(1, len(curves)), curves.items()):
        for name, runs in by_strategy.items():
            mean = runs.mean(axis=0)
            ci = 1.96 * runs.std(axis=0) / np.sqrt(len(runs))
            ax.plot(labels, 100 * mean, marker="o", ms=3, label=name)
            ax.fill_between(labels, 100 * (mean - ci), 100 * (mean + ci), alpha=0.15)
        ax.set(title=textwrap.fill(ENCODERS[encoder], 55), xlabel="labelled clips",
               ylabel="test accuracy %")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--seeds", type=int, default=50)
    args = parser.parse_args()
    classes = splits(args.data)["val"]
    rows, curves = [], {}
    for encoder in ENCODERS:
        Z, y = embed(args.data, classes, encoder)
        curves[encoder] = {}
        for name, ranking in STRATEGIES.items():
            runs = np.stack([simulate(Z, y, ranking, seed) for seed in range(args.seeds)])
            curves[encoder][name] = runs
            row = {"encoder": encoder, "strategy": name}
            for k in (0, 1, 3, 5, 9):
                mean, ci = mean_ci(runs[:, k])
                row[f"{BATCH * (k + 1)} labels %"] = f"{100 * mean:.1f} +- {100 * ci:.1f}"
            row["mean over curve %"] = f"{100 * runs.mean():.1f}"
            rows.append(row)
            print(row)
    plot(curves, RESULTS / "active_esc50.png")
    save_results(
        "active_esc50", rows, title="Active labelling on ESC-50 validation classes",
        columns=["encoder", "strategy", "5 labels %", "10 labels %", "20 labels %",
                 "30 labels %", "50 labels %", "mean over curve %"],
        notes=(f"PrototypeClassifier(metric='cosine') grown with partial_fit; {args.seeds} "
               "seeds (different pool/test splits and first clips), mean +- 95 % CI over "
               "seeds. 5 classes; per class 10 test clips, 30 pool clips; start: one "
               "labelled clip per class; then 5 clips per round. Encoders: "
               + "; ".join(f"{k}: {v}" for k, v in ENCODERS.items())
               + ". Curves: active_esc50.png."),
    )


if __name__ == "__main__":
    main()
