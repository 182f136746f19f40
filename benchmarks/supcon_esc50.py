"""SupConPretrainer on ESC-50: pre-train on the 35 train classes, few-shot on the 5 val.

Compares loss="supcon", loss="angular" and self-supervised pre-training (NT-Xent)
with the PrototypeClassifier front-end baseline (log-mel statistics, no learning),
each with a nearest-prototype head and a linear probe, in 5-way 1-shot and 5-shot
episodes (1 query per class, 95 % CI = 1.96 std / sqrt(n_episodes)). Every method is
scored on the same episodes (same sampler seed). Records CPU training time per epoch
and ``transform`` throughput.

The linear probe is ``make_pipeline(FrozenEstimator(pre), LogisticRegression())``;
to keep 2,000+ episodes affordable the clips are embedded once and the logistic
regression is fitted per episode on the cached embeddings (``transform`` is
deterministic, so this is the same computation); the script checks this on the
first episodes against the real pipeline.

Usage (from the repository root)::

    python benchmarks/supcon_esc50.py --epochs 8 --episodes 2000
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfewaudio import EpisodeSampler, MelStatistics, PrototypeClassifier, evaluate_episodes
from skfewaudio.datasets import load_audio_folder
from skfewaudio.supcon import SupConPretrainer

ROOT = Path(__file__).resolve().parents[1]
NAME = "supcon_esc50"


def hardware():
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                   if line.startswith("Model name"))
    except Exception:  # noqa: BLE001 - informative only
        cpu = platform.processor()
    return {
        "cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg(), "torch": torch.__version__,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0),
        "python": platform.python_version(),
    }


def linear_probe_accuracies(embeddings, y, n_shot, n_episodes, seed):
    sampler = EpisodeSampler(5, n_shot, 1, n_episodes, seed)
    support, query = sampler.sample(y)
    acc = np.empty(n_episodes)
    for e in range(n_episodes):
        s, q = support[e].ravel(), query[e].ravel()
        clf = LogisticRegression(max_iter=1000).fit(embeddings[s], y[s])
        acc[e] = np.mean(clf.predict(embeddings[q]) == y[q])
    return acc, support, query


def summary(acc):
    return {"accuracy": float(acc.mean()), "ci95": float(1.96 * acc.std() / np.sqrt(len(acc)))}


def check_probe_equivalence(encoder, X, y, support, query, embeddings, n_check=10):
    """The cached-embedding probe predicts exactly as the documented pipeline."""
    for e in range(n_check):
        s, q = support[e].ravel(), query[e].ravel()
        pipe = make_pipeline(FrozenEstimator(encoder), LogisticRegression(max_iter=1000))
        pipe.fit([X[i] for i in s], y[s])
        cached = LogisticRegression(max_iter=1000).fit(embeddings[s], y[s])
        if not np.array_equal(pipe.predict([X[i] for i in q]), cached.predict(embeddings[q])):
            return False
    return True


def evaluate(name, encoder, X_val, y_val, args, row):
    start = time.perf_counter()
    embeddings = encoder.transform(X_val)
    row["transform_seconds"] = time.perf_counter() - start
    row["transform_clips_per_s"] = len(X_val) / row["transform_seconds"]
    for n_shot in (1, 5):
        for metric in ("euclidean", "cosine"):
            res = evaluate_episodes(
                PrototypeClassifier(encoder=FrozenEstimator(encoder), metric=metric),
                X_val, y_val, n_way=5, n_shot=n_shot, n_query=1,
                n_episodes=args.episodes, random_state=args.seed,
            )
            row[f"prototype_{metric}_{n_shot}shot"] = summary(res["episode_accuracies"])
        acc, support, query = linear_probe_accuracies(
            embeddings, y_val, n_shot, args.episodes, args.seed)
        row[f"linear_probe_{n_shot}shot"] = summary(acc)
        if n_shot == 1:
            row["linear_probe_matches_pipeline"] = check_probe_equivalence(
                encoder, X_val, y_val, support, query, embeddings)
    print(f"  {name}: " + ", ".join(
        f"{k}={v['accuracy']:.4f}" for k, v in row.items() if isinstance(v, dict)), flush=True)


def save(results, out_dir, name=NAME):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# SupConPretrainer on ESC-50 (train 35 classes -> val 5 classes)", "",
        f"Command: `{results['command']}`", "",
        f"Hardware: {results['hardware']['cpu']}, {results['hardware']['logical_cores']} "
        f"logical cores shared with other jobs (load average at start "
        f"{results['hardware']['load_average_at_start'][0]:.1f}), torch threads "
        f"{results['hardware']['torch_threads']} (OMP_NUM_THREADS="
        f"{results['hardware']['OMP_NUM_THREADS']}, nice {results['hardware']['nice']}), "
        f"GPU: {results['hardware']['gpu']}. "
        f"torch {results['hardware']['torch']}.", "",
        f"Protocol: 5-way, 1 query per class, {results['episodes']} episodes per cell, same "
        "episodes for every row; accuracy % +- 95 % CI. Pre-training: "
        f"{results['settings']}.", "",
        "| pre-training | head | 5-way 1-shot | 5-way 5-shot | pre-train wall (s) | "
        "s / epoch | transform clips/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        for head, key in (("prototype (euclidean)", "prototype_euclidean"),
                          ("prototype (cosine)", "prototype_cosine"),
                          ("linear probe", "linear_probe")):
            if f"{key}_1shot" not in row:
                continue
            cells = [f"{100 * row[f'{key}_{k}shot']['accuracy']:.2f} +- "
                     f"{100 * row[f'{key}_{k}shot']['ci95']:.2f}" for k in (1, 5)]
            lines.append(
                f"| {row['name']} | {head} | {cells[0]} | {cells[1]} | "
                f"{row.get('fit_seconds', 0):.0f} | {row.get('seconds_per_epoch', 0):.1f} | "
                f"{row['transform_clips_per_s']:.0f} |")
    if results.get("precision_timing"):
        t = results["precision_timing"]
        lines += ["", "One training epoch of the small encoder (supervised SupCon), same "
                  f"machine: float32 {t['float32']:.1f} s, bfloat16 autocast "
                  f"{t['bfloat16']:.1f} s."]
    lines += ["", "Numbers are from a short CPU budget (see settings) and are not "
              "comparable with the published GPU-trained results."]
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "esc50"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoder", default="small")
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default="supcon,angular,selfsup")
    parser.add_argument("--time-precision", action="store_true",
                        help="also time one epoch in float32 and in bfloat16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--name", default=NAME, help="file name of the results")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)

    splits = json.loads((Path(args.data) / "splits.json").read_text())
    train = load_audio_folder(args.data, classes=splits["train"])
    val = load_audio_folder(args.data, classes=splits["val"])
    X_tr, y_tr = train.data, train.target
    X_val, y_val = val.data, val.target
    print(f"train {len(X_tr)} clips / {len(set(y_tr))} classes, "
          f"val {len(X_val)} clips / {len(set(y_val))} classes", flush=True)

    settings = dict(encoder=args.encoder, max_epochs=args.epochs, batch_size=args.batch_size,
                    precision=args.precision, device=args.device, random_state=args.seed)
    results = {
        "command": "python benchmarks/supcon_esc50.py " + " ".join(sys.argv[1:] if argv is None
                                                                 else argv),
        "hardware": hardware(), "episodes": args.episodes, "settings": settings, "rows": [],
    }

    if args.time_precision:
        timing = {}
        for precision in ("float32", "bfloat16"):
            pre = SupConPretrainer(**{**settings, "max_epochs": 1, "precision": precision})
            pre.fit(X_tr, y_tr)
            timing[precision] = float(pre.net_.history[-1, "dur"])
            print(f"  one epoch {precision}: {timing[precision]:.1f} s", flush=True)
        results["precision_timing"] = timing
        save(results, out_dir, args.name)

    row = {"name": "none: PrototypeClassifier() front-end (log-mel statistics)"}
    evaluate("baseline", MelStatistics().fit(X_tr[:1]), X_val, y_val, args, row)
    results["rows"].append(row)
    save(results, out_dir, args.name)

    configs = {
        "supcon": ("supervised, loss='supcon'", dict(loss="supcon"), True),
        "angular": ("supervised, loss='angular' (alpha 0.7)", dict(loss="angular"), True),
        "selfsup": ("self-supervised, NT-Xent (no labels)", dict(loss="supcon"), False),
        "selfsup_angular": ("self-supervised, loss='angular' (alpha 0.3)",
                            dict(loss="angular"), False),
    }
    for key in args.configs.split(","):
        label, params, supervised = configs[key]
        print(f"pre-training {label}", flush=True)
        pre = SupConPretrainer(**settings, **params, verbose=1)
        start = time.perf_counter()
        pre.fit(X_tr, y_tr if supervised else None, X_val=X_val, y_val=y_val)
        row = {"name": label, "fit_seconds": time.perf_counter() - start,
               "seconds_per_epoch": float(np.mean(pre.net_.history[:, "dur"])),
               "train_loss": [float(v) for v in pre.net_.history[:, "train_loss"]],
               "val_acc_1shot_per_epoch": [float(v) for v in
                                           pre.net_.history[:, "valid_acc_1shot"]]}
        evaluate(key, pre, X_val, y_val, args, row)
        results["rows"].append(row)
        save(results, out_dir, args.name)
    print((out_dir / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
