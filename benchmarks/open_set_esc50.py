"""Open-set rejection on ESC-50: known-class accuracy and rejection of unknown sounds.

PrototypeClassifier(rejection="auto") on random episodes. Two protocols:

* ``val+train``: the 5 validation classes are known (n_shot support clips each,
  the other clips are known queries); unknowns are clips of the 35 train classes.
  Only for the no-learning encoder, which has never seen any class.
* ``val 3+2``: 3 of the 5 validation classes are known, the other 2 are unknown.
  Both encoders; the committed model was trained on the train classes, so only
  validation classes may be unknowns for it.

Per episode: closed-set accuracy on known queries (no rejection), known accuracy
with rejection (a rejected known clip counts as an error), the measured false
rejection rate, the share of unknown clips rejected, and the AUROC of the knownness
score (score_samples) between known and unknown queries.

Usage: python benchmarks/open_set_esc50.py [--data DIR] [--episodes 1000]
"""

import argparse

import numpy as np
from _embedded_esc50 import ENCODERS, embed, mean_ci, on_embeddings, splits
from _results import DEFAULT_ESC50, save_results
from sklearn.metrics import roc_auc_score

TARGETS = (0.05, 0.2)  # false_rejection_rate: the default, and a stricter threshold


def episode(rng, Z, y, known_classes, unknown_pool, n_shot, n_unknown, metric):
    """Rows of metrics of one episode, one per false-rejection target."""
    shots, queries = [], []
    for label in known_classes:
        members = rng.permutation(np.flatnonzero(y == label))
        shots.append(members[:n_shot])
        queries.append(members[n_shot:])
    shots, queries = np.concatenate(shots), np.concatenate(queries)
    unknown = (rng.choice(unknown_pool, n_unknown, replace=False)
               if n_unknown < len(unknown_pool) else unknown_pool)
    clf = on_embeddings(metric=metric, rejection="auto").fit(Z[shots], y[shots])
    closed = np.mean(clf.classes_[np.argmax(clf.decision_function(Z[queries]), 1)] == y[queries])
    knownness = clf.score_samples(np.concatenate([Z[queries], Z[unknown]]))
    auroc = roc_auc_score(np.r_[np.ones(len(queries)), np.zeros(len(unknown))], knownness)
    out = []
    for target in TARGETS:
        clf.set_params(false_rejection_rate=target)
        known_pred, unknown_pred = clf.predict(Z[queries]), clf.predict(Z[unknown])
        out.append({"target": target, "closed": closed, "auroc": auroc,
                    "known_acc": np.mean(known_pred == y[queries]),
                    "frr": np.mean(known_pred == "unknown"),
                    "rejected": np.mean(unknown_pred == "unknown")})
    return out


def run(Z, y, protocol, classes, n_shot, metric, n_episodes, seed):
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(n_episodes):
        if protocol == "val+train":
            known = classes["val"]
            pool = np.flatnonzero(np.isin(y, classes["train"]))
            n_unknown = int(np.sum(np.isin(y, known))) - n_shot * len(known)
        else:
            known = list(rng.choice(classes["val"], 3, replace=False))
            pool = np.flatnonzero(np.isin(y, classes["val"]) & ~np.isin(y, known))
            n_unknown = len(pool)
        results.extend(episode(rng, Z, y, known, pool, n_shot, n_unknown, metric))
    return results


def summarise(results, **labels):
    rows = []
    for target in TARGETS:
        chosen = [r for r in results if r["target"] == target]
        row = dict(labels, **{"target FRR": target})
        for key, name in [("closed", "closed-set acc %"), ("known_acc", "known acc %"),
                          ("frr", "false rejection %"), ("rejected", "unknown rejected %"),
                          ("auroc", "AUROC %")]:
            mean, ci = mean_ci([r[key] for r in chosen])
            row[name] = f"{100 * mean:.1f} +- {100 * ci:.1f}"
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classes = splits(args.data)
    rows = []
    embedded = {"spectral": embed(args.data, classes["val"] + classes["train"], "spectral"),
                "model": embed(args.data, classes["val"], "model")}
    plan = [("spectral", "val+train", "cosine"), ("spectral", "val+train", "euclidean"),
            ("spectral", "val 3+2", "cosine"), ("model", "val 3+2", "cosine")]
    for encoder, protocol, metric in plan:
        Z, y = embedded[encoder]
        for n_shot in (5, 10):
            results = run(Z, y, protocol, classes, n_shot, metric, args.episodes, args.seed)
            rows += summarise(results, encoder=encoder, metric=metric, protocol=protocol,
                              shots=n_shot)
            print(rows[-2])
    save_results(
        "open_set_esc50", rows,
        title="Open-set rejection, PrototypeClassifier(rejection='auto'), ESC-50",
        columns=["encoder", "metric", "protocol", "shots", "target FRR", "closed-set acc %",
                 "known acc %", "false rejection %", "unknown rejected %", "AUROC %"],
        notes=(f"{args.episodes} random episodes per row (seed {args.seed}), mean +- 95 % CI "
               "over episodes. Encoders: " + "; ".join(f"{k}: {v}" for k, v in ENCODERS.items())
               + ". val+train: 5 known validation classes, as many unknown clips from the "
               "35 train classes as known queries. val 3+2: 3 known and 2 unknown validation "
               "classes per episode. 'known acc' counts a rejected known clip as an error; "
               "the threshold is the (1 - target FRR) quantile of leave-one-out distances "
               "of the support clips."),
    )


if __name__ == "__main__":
    main()
