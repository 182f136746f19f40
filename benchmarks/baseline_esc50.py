"""The no-learning baseline on real data: PrototypeClassifier with fixed front-ends.

MetaAudio protocol on the ESC-50 classes in ../shared/data/esc50: 5-way 1-shot and
5-shot, one query per class, on the 5 validation classes (the 10 test classes are
withheld). No training. Encoders: the default, SpectralStatistics with its shipped
prior (settings chosen in benchmarks/spectral_cv_esc50.py on the train classes); the
same without its texture statistics (the previous default); the older default
MelStatistics (mean and standard deviation of each log-mel band); and
SpectralStatistics(standardize="fit") fitted on the evaluated clips without their
labels, the documented way to adapt to one's own domain.

Usage: python benchmarks/baseline_esc50.py [--data DIR] [--episodes 10000]
"""

import argparse
import json

from _results import DEFAULT_ESC50, save_results
from sklearn.frozen import FrozenEstimator

from skfewaudio import (
    MelStatistics,
    PrototypeClassifier,
    SpectralStatistics,
    evaluate_episodes,
    load_audio_folder,
)


def encoders(clips):
    """Row label -> encoder (None: PrototypeClassifier's default); all embed once."""
    return {
        "SpectralStatistics, shipped prior (default, no learning)": None,
        "SpectralStatistics without texture statistics (texture_weight=0, previous default)":
            SpectralStatistics(texture_weight=0).fit(clips[:1]),
        "MelStatistics (no learning, old default)": MelStatistics().fit(clips[:1]),
        "SpectralStatistics fitted on these clips, unlabelled": FrozenEstimator(
            SpectralStatistics(standardize="fit").fit(clips)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--split", default="val", help="classes of splits.json to use")
    parser.add_argument("--episodes", type=int, default=10_000)
    args = parser.parse_args()
    classes = json.load(open(f"{args.data}/splits.json"))[args.split]
    data = load_audio_folder(args.data, sample_rate=16000, classes=classes)
    rows = []
    for label, encoder in encoders(data.data).items():
        for metric in ("euclidean", "cosine"):
            for n_shot in (1, 5):
                clf = PrototypeClassifier(encoder, metric=metric)
                result = evaluate_episodes(clf, data.data, data.target, n_way=5,
                                           n_shot=n_shot, n_query=1,
                                           n_episodes=args.episodes, random_state=0)
                rows.append({"encoder": label, "metric": metric, "shot": n_shot,
                             "accuracy %": 100 * result["accuracy"],
                             "ci95 %": 100 * result["ci95"], "seconds": result["seconds"]})
    save_results(f"baseline_esc50_{args.split}", rows,
                 title=f"PrototypeClassifier front-end baseline, ESC-50 {args.split} classes",
                 columns=["encoder", "metric", "shot", "accuracy %", "ci95 %", "seconds"],
                 notes=f"5-way, 1 query per class, {args.episodes} episodes, seed 0; "
                       f"classes: {', '.join(classes)}. 'seconds' includes embedding the "
                       "clips once (the fitted row's fit is outside it).")


if __name__ == "__main__":
    main()
