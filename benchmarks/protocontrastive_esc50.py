r"""ProtoContrastiveClassifier on ESC-50 with the MetaAudio protocol.

Meta-trains on the 35 train classes of ../shared/data/esc50/splits.json, keeps the
epoch with the best 5-way 1-shot accuracy on the 5 val classes, and reports 5-way
1-shot and 5-shot accuracy (1 query per class, 95 % CI) on the val classes.

Stages
------
ablation   plain ProtoNet, + SupCon, + angular, each with n_views=1 (no fusion) and
           n_views=2 (fusion), same episodes, epochs and seeds.
best       one longer run of the chosen configuration; the model is saved with joblib
           to benchmarks/models/protocontrastive_esc50.joblib.
--eval-dir evaluate a saved model on any folder of classes (one sub-folder of audio
           per class), MetaAudio protocol, 10,000 episodes by default.

Usage (the runs reported in benchmarks/results, CPU only, 2 shared cores)
-----
python benchmarks/protocontrastive_esc50.py --stage ablation --epochs 8 \
    --episodes-per-epoch 15 --threads 1
python benchmarks/protocontrastive_esc50.py --stage best --epochs 30 --threads 1 \
    --set contrastive=angular
python benchmarks/protocontrastive_esc50.py --stage best --epochs 45 --threads 2 \
    --set contrastive=supcon --tag _supcon_long
python benchmarks/protocontrastive_esc50.py --stage best --epochs 70 --threads 2 \
    --set contrastive=supcon --tag _supcon_xl    # the committed model
python benchmarks/protocontrastive_esc50.py --eval-dir DIR [--model PATH]

Each results file records the exact command it came from.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

from _results import DEFAULT_ESC50, save_results
from skfewaudio import evaluate_episodes, load_audio_folder
from skfewaudio.protocontrastive import ProtoContrastiveClassifier

MODEL = Path(__file__).resolve().parent / "models" / "protocontrastive_esc50.joblib"

# Shared settings of every configuration (chosen on the val classes, see the docs).
BASE = dict(
    encoder="conv4", n_maps=32, in_stride=2, metric="cosine", n_way=10, n_shot=1, n_query=2,
    lr=1e-3, freq_mask_param=16, time_mask_param=20, contrastive_weight=0.5, temperature=0.1,
    angular_alpha=40.0, miner_angle=20.0, validation_episodes=1000, validation_shot=1,
    embed_batch_size=64, random_state=0, verbose=1,
)
ABLATION = [
    ("ProtoNet", dict(contrastive=None, n_views=1)),
    ("ProtoNet + fusion", dict(contrastive=None, n_views=2)),
    ("+ SupCon", dict(contrastive="supcon", n_views=1)),
    ("+ SupCon + fusion", dict(contrastive="supcon", n_views=2)),
    ("+ angular", dict(contrastive="angular", n_views=1)),
    ("+ angular + fusion", dict(contrastive="angular", n_views=2)),
]
# Chosen on the val classes: SupCon + fusion led the ablation (angular + fusion is the
# paper's choice and was the first long run, `--set contrastive=angular`).
BEST = dict(contrastive="supcon", n_views=2)


def load_split(root, split):
    classes = json.load(open(Path(root) / "splits.json"))[split]
    data = load_audio_folder(root, sample_rate=16000, classes=classes)
    return data.data, np.asarray(data.target)


def evaluate(model, X, y, n_episodes, shots=(1, 5)):
    out = {}
    for n_shot in shots:
        result = evaluate_episodes(model, X, y, n_way=5, n_shot=n_shot, n_query=1,
                                   n_episodes=n_episodes, random_state=0)
        out[n_shot] = (100 * result["accuracy"], 100 * result["ci95"])
    return out


def parse_overrides(pairs):
    overrides = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def train(name, params, X, y, X_val, y_val, eval_episodes):
    model = ProtoContrastiveClassifier(**params)
    print(f"\n=== {name}: {params}", flush=True)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    scores = evaluate(model, X_val, y_val, eval_episodes)
    history = model.net_.history
    row = {
        "configuration": name,
        "contrastive": params.get("contrastive"), "n_views": params.get("n_views"),
        "1-shot %": scores[1][0], "1-shot ci95": scores[1][1],
        "5-shot %": scores[5][0], "5-shot ci95": scores[5][1],
        "best epoch": model.best_epoch_, "epochs run": len(history),
        "train episodes": len(history) * params["episodes_per_epoch"],
        "training s": round(model.fit_seconds_),
        "val_acc per epoch": [round(a, 4) for a in history[:, "valid_acc_1shot"]],
    }
    print(f"--> {name}: 1-shot {scores[1][0]:.2f} +- {scores[1][1]:.2f}, "
          f"5-shot {scores[5][0]:.2f} +- {scores[5][1]:.2f}, {row['training s']} s", flush=True)
    return model, row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--stage", choices=["ablation", "best", "single"], default="ablation")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default 8 for ablation, 70 for best)")
    parser.add_argument("--episodes-per-epoch", type=int, default=None,
                        help="default 15 for ablation, 20 for best")
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help="val episodes for the report (default 2,000; 10,000 in --eval-dir)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override estimator parameters (JSON values)")
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--eval-dir", default=None,
                        help="evaluate the saved --model on this folder of classes")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # SIGTERM (e.g. from `timeout`) ends training like Ctrl-C: skorch stops after the
    # current batch, the best validation epoch is restored, and the run is still
    # evaluated and saved.
    signal.signal(signal.SIGTERM, _interrupt)
    command = " ".join(["python"] + sys.argv)

    if args.eval_dir:
        return evaluate_saved(args, command)

    X, y = load_split(args.data, "train")
    X_val, y_val = load_split(args.data, "val")
    overrides = parse_overrides(args.set)
    eval_episodes = args.eval_episodes or 2000
    stage = args.stage
    epochs = args.epochs or (70 if stage == "best" else 8)
    per_epoch = args.episodes_per_epoch or (20 if stage == "best" else 15)
    budget = dict(max_epochs=epochs, episodes_per_epoch=per_epoch)
    configs = ABLATION if stage == "ablation" else [(stage, BEST)]
    rows = []
    shared = {**BASE, **budget, **overrides}
    notes = (
        f"Meta-trained on the 35 ESC-50 train classes; epoch kept by 5-way 1-shot accuracy "
        f"on the 5 val classes ({shared['validation_episodes']} episodes); reported on the same val "
        f"classes: 5-way, 1 query per class, {eval_episodes} episodes, seed 0, 95 % CI. "
        f"Budget per configuration: {epochs} epochs x {per_epoch} episodes "
        f"({shared['n_way']}-way {shared['n_shot']}-shot {shared['n_query']}-query), on CPU "
        f"with {torch.get_num_threads()} torch thread(s). Shared settings: {json.dumps(shared)}."
    )
    for name, config in configs:
        params = {**BASE, **budget, **config, **overrides}
        model, row = train(name, params, X, y, X_val, y_val, eval_episodes)
        rows.append(row)
        if stage == "best":
            MODEL.parent.mkdir(exist_ok=True)
            joblib.dump(model, args.model, compress=3)
            row["model"] = os.path.relpath(args.model, Path(__file__).resolve().parents[1])
            row["model MB"] = round(os.path.getsize(args.model) / 2**20, 2)
        # Saved after every configuration, so a cut-short run keeps what it finished.
        save_results(f"protocontrastive_esc50_{stage}{args.tag}", rows,
                     title=f"ProtoContrastiveClassifier, ESC-50 val classes ({stage})",
                     columns=["configuration", "1-shot %", "1-shot ci95", "5-shot %",
                              "5-shot ci95", "best epoch", "epochs run", "train episodes",
                              "training s"],
                     notes=notes)


def _interrupt(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills
    raise KeyboardInterrupt


def evaluate_saved(args, command):
    model = joblib.load(args.model)
    data = load_audio_folder(args.eval_dir, sample_rate=16000)
    X, y = data.data, np.asarray(data.target)
    episodes = args.eval_episodes or 10_000
    start = time.perf_counter()
    scores = evaluate(model, X, y, episodes)
    rows = [{"model": os.path.basename(args.model), "classes": len(np.unique(y)),
             "clips": len(y), "1-shot %": scores[1][0], "1-shot ci95": scores[1][1],
             "5-shot %": scores[5][0], "5-shot ci95": scores[5][1],
             "seconds": round(time.perf_counter() - start, 1)}]
    save_results(f"protocontrastive_esc50_eval{args.tag}", rows,
                 title=f"Saved ProtoContrastiveClassifier on {args.eval_dir}",
                 columns=list(rows[0]),
                 notes=f"5-way, 1 query per class, {episodes} episodes, seed 0, 95 % CI; "
                       f"metric {model.metric}; classes: {', '.join(np.unique(y))}.")


if __name__ == "__main__":
    main()
