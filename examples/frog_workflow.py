"""The frog-call case of docs/workflow.md, end to end on ESC-50 clips.

Five labelled clips per sound of a pond (frog, crickets, rain, birds) and a folder of
unlabelled "field" clips that also holds sounds nobody labelled; then: classify with
rejection (the `skfewaudio classify` command, with its review plots), ask which clips
to label, grow the classifier with partial_fit (new classes included), search long
recordings for more frog calls, save and reload. Writes the guide's figures to
docs/images/ and prints the numbers quoted there.

Needs ESC-50 (``--data``; default ../shared/data/esc50 beside the repository) and
matplotlib. Run: python examples/frog_workflow.py [--data DIR]
"""

import argparse
import csv
import pickle
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import FunctionTransformer

from skfewaudio import PrototypeClassifier, load, load_audio_folder, rank_for_labelling
from skfewaudio.cli import main as skfewaudio_cli
from skfewaudio.search import EmbeddingStore

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
SITE = ["frog", "crickets", "rain", "chirping_birds"]  # the sounds someone labelled
OTHERS = ["insects", "wind", "rooster", "water_drops", "footsteps", "door_wood_knock"]
N_SHOTS, N_FIELD_SITE, N_FIELD_OTHER, ROUND = 5, 20, 6, 10


def build_folders(data, rng, work):
    """support/<class>/ (5 clips each) and field/ (unlabelled), as symbolic links."""
    truth, pools = {}, {}
    for label in SITE + OTHERS:
        files = sorted((data / label).glob("*.flac"))
        pools[label] = [files[i] for i in rng.permutation(len(files))]
    for label in SITE:
        (work / "support" / label).mkdir(parents=True)
        for file in pools[label][:N_SHOTS]:
            (work / "support" / label / file.name).symlink_to(file)
    field = [(f, label) for label in SITE for f in pools[label][N_SHOTS:N_SHOTS + N_FIELD_SITE]]
    field += [(f, label) for label in OTHERS for f in pools[label][:N_FIELD_OTHER]]
    (work / "field").mkdir()
    for k, i in enumerate(rng.permutation(len(field))):
        name = f"clip_{k:03d}.flac"
        (work / "field" / name).symlink_to(field[i][0])
        truth[name] = field[i][1]
    spare_frogs = pools["frog"][N_SHOTS + N_FIELD_SITE:]
    return truth, spare_frogs, pools


def open_set_accuracy(clf, X, truth):
    """A clip is right if labelled with its class, or 'unknown' when its class is not known."""
    expected = np.where(np.isin(truth, clf.classes_), truth, clf.unknown_label)
    return float(np.mean(clf.predict(X) == expected))


def on_embeddings(clf, support_embeddings, support_labels):
    """The same classifier, taking embeddings: the growth runs embed each clip once."""
    identity = FrozenEstimator(FunctionTransformer().fit(np.zeros((1, 1))))
    twin = PrototypeClassifier(identity, **{k: v for k, v in clf.get_params(deep=False).items()
                                            if k != "encoder"})
    return twin.fit(support_embeddings, support_labels)


def grow(clf0, Z, truth, rng, ranked, rounds=4):
    """Open-set accuracy on the clips not yet labelled, after each round of labelling."""
    clf = pickle.loads(pickle.dumps(clf0))  # each run grows its own copy
    remaining = np.arange(len(Z))
    curve = [open_set_accuracy(clf, Z[remaining], truth[remaining])]
    for _ in range(rounds):
        pick = (rank_for_labelling(clf, Z[remaining], n=ROUND, strategy="margin",
                                   diversity=0.5)
                if ranked else rng.choice(len(remaining), ROUND, replace=False))
        clf.partial_fit(Z[remaining[pick]], truth[remaining[pick]])  # new classes too
        remaining = np.delete(remaining, pick)
        curve.append(open_set_accuracy(clf, Z[remaining], truth[remaining]))
    return np.asarray(curve)


def plot_growth(ranked, random_runs, path):
    from matplotlib.figure import Figure

    labels = N_SHOTS * len(SITE) + ROUND * np.arange(len(ranked))
    figure = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = figure.subplots()
    ax.plot(labels, 100 * ranked, marker="o", label="rank_for_labelling (margin, diversity 0.5)")
    mean = random_runs.mean(axis=0)
    ci = 1.96 * random_runs.std(axis=0) / np.sqrt(len(random_runs))
    ax.plot(labels, 100 * mean, marker="s", label=f"random clips (mean of {len(random_runs)})")
    ax.fill_between(labels, 100 * (mean - ci), 100 * (mean + ci), alpha=0.2)
    ax.set(xlabel="labelled clips", ylabel="open-set accuracy on the rest %",
           title="Growing the pond classifier 10 reviewed clips at a time")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    figure.savefig(path, dpi=110)


def build_night(pools, spare_frogs, rng, work, minutes=3, n_recordings=3):
    """Long recordings of site and other sounds end to end, frog calls at known times."""
    frogs, placed = list(spare_frogs), {}
    fillers = [f for label in ["crickets", "rain", "wind", "insects", "rooster"]
               for f in pools[label][N_FIELD_SITE + N_SHOTS:]]
    for r in range(n_recordings):
        pieces, spans, t = [], [], 0.0
        while t < 60 * minutes:
            use_frog = frogs and rng.random() < 0.15
            file = frogs.pop() if use_frog else fillers[rng.integers(len(fillers))]
            clip, rate = sf.read(file, dtype="float32")
            if use_frog:
                spans.append((t, t + len(clip) / rate))
            pieces.append(clip)
            t += len(clip) / rate
        path = work / "night" / f"night{r}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, np.concatenate(pieces), 16000)
        placed[str(path.resolve())] = spans
    return placed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "esc50")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None,
                        help="a fitted encoder or few-shot classifier saved with skfewaudio.save "
                             "(default: SpectralStatistics, no learning)")
    args = parser.parse_args()
    model = [] if args.model is None else ["--model", str(args.model)]
    images = IMAGES / ("workflow" if args.model is None else "workflow_model")
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="frog_workflow_"))
    truth, spare_frogs, pools = build_folders(args.data, rng, work)

    # 1. The command line: labels for the field folder, and the review plots.
    predictions = work / "predictions.csv"
    skfewaudio_cli(["classify", str(work / "support"), str(work / "field"), "--output",
                    str(predictions), "--plots", str(images),
                    "--save", str(work / "pond.safetensors")] + model)
    with open(predictions, newline="") as handle:
        rows = list(csv.DictReader(handle))
    known = [r for r in rows if truth[r["file"]] in SITE]
    unknown = [r for r in rows if truth[r["file"]] not in SITE]
    print(f"\nfield clips of the 4 labelled sounds: {len(known)}, labelled right: "
          f"{100 * np.mean([r['label'] == truth[r['file']] for r in known]):.0f}%, "
          f"rejected: {100 * np.mean([r['unknown'] == '1' for r in known]):.0f}%")
    print(f"field clips of other sounds: {len(unknown)}, rejected as unknown: "
          f"{100 * np.mean([r['unknown'] == '1' for r in unknown]):.0f}%")
    frog_rows = [r for r in known if truth[r["file"]] == "frog"]
    print(f"frog clips found: {sum(r['label'] == 'frog' for r in frog_rows)} of "
          f"{len(frog_rows)}; clips labelled frog that are not: "
          f"{sum(r['label'] == 'frog' and truth[r['file']] != 'frog' for r in rows)}")

    # 2. Review and grow: the same classifier in Python, partial_fit with reviewed clips.
    clf = load(work / "pond.safetensors")
    names = sorted(truth)
    X = [sf.read(work / "field" / n, dtype="float32")[0] for n in names]
    labels = np.asarray([truth[n] for n in names])
    support = load_audio_folder(work / "support")
    twin = on_embeddings(clf, clf.transform(support.data), support.target)
    Z = clf.transform(X)
    ranked = grow(twin, Z, labels, rng, ranked=True)
    random_runs = np.stack([grow(twin, Z, labels, np.random.default_rng(s), ranked=False)
                            for s in range(20)])
    print("\nopen-set accuracy on unlabelled clips after 0, 10, 20, 30, 40 more labels:")
    print("  ranked:", " ".join(f"{100 * a:.0f}%" for a in ranked))
    print("  random:", " ".join(f"{100 * a:.0f}%" for a in random_runs.mean(axis=0)))
    plot_growth(ranked, random_runs, images / "growth.png")

    # 3. Search three long recordings for more frog calls, with the five frog clips.
    placed = build_night(pools, spare_frogs, rng, work)
    store = EmbeddingStore.create(work / "night.index", clf.encoder_, window_seconds=1.0)
    store.add_recordings(sorted((work / "night").glob("*.wav")))
    examples = [sf.read(f, dtype="float32")[0]
                for f in sorted((work / "support" / "frog").iterdir())]
    matches = store.search(examples, k=20)
    hits = [[(m["file"], a) for a, b in placed[m["file"]] if a < m["end"] and m["start"] < b]
            for m in matches]
    n_frogs = sum(len(spans) for spans in placed.values())
    print(f"\nsearch: {store}; {n_frogs} frog clips placed; windows inside a frog clip: "
          f"{sum(map(bool, hits[:10]))} of the top 10, {sum(map(bool, hits))} of the top 20, "
          f"which cover {len({h for hit in hits for h in hit})} of the {n_frogs} frog clips")

    # 4. The classifier saved by the command reloads to the labels it wrote.
    written = {r["file"]: r["label"] for r in rows}
    same = list(load(work / "pond.safetensors").predict(X)) == [written[n] for n in names]
    print(f"saved classifier reloads to the same labels as the command wrote: {same}")


if __name__ == "__main__":
    main()
