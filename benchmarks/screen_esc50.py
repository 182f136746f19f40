"""Quick screening of training changes on class-disjoint folds of the ESC-50 train classes.

A cheaper first look than ``pretrain_esc50.py --stage cv``: one fold per run (run
folds 0 and 1 as two processes, one per core), the base recipe at its 80-epoch budget
with ``--set`` overrides and optional changes to the training data or the encoder,
and three scores of the fold's encoder on its 7 held-out classes (5-way 1-shot and
5-shot, 1 query per class, 10,000 episodes, not centred):

* ``alone``: nearest cosine prototype on the learned embedding;
* ``s02``: the same beside ``SpectralStatistics`` at weight 0.2 (the committed
  models' fusion, ``few_shot_model`` in ``pretrain_esc50.py``);
* ``s02probe``: ``s02`` with ``LinearProbeClassifier(C=10)`` instead of prototypes.

Each run adds or replaces its fold's row under its ``--name`` in
``results/screen_esc50.{json,md}``; the table shows each name's mean over the folds
run. Retraining the same recipe with another seed moves the two-fold mean by up to
about 1.5 points (the ``baseline`` rows), so only larger differences are evidence.

Changes beyond ``--set``:

``--new-classes pitch12 pitch-12``
    add, as new base classes, copies of every training clip with its log-mel shifted
    up (down) by 12 mel bands, edge bands repeated (task augmentation: more classes);
``--first-stride F T``
    a conv-4 whose first convolution strides F along frequency and T along time
    (the recipe's is 2 2); the fold's encoder is then kept with joblib, since
    ``skfewaudio.save`` stores only built-in encoder settings.
"""

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
import torch
from _results import DEFAULT_ESC50, RESULTS
from pretrain_esc50 import (
    _save_merged,
    _split,
    episode_scores,
    few_shot_model,
    fit_encoder,
    folds,
    recipe_params,
)

from skfewaudio import load_audio_folder, save
from skfewaudio._windows import LogMelWindows
from skfewaudio.nn.encoders import Conv4Encoder

SCORES = [f"{model}_{shot}shot" for model in ("alone", "s02", "s02probe") for shot in (1, 5)]


def shift_mels(specs, bands):
    """Log-mels shifted up (``bands`` > 0) or down along frequency, edge bands repeated
    so that no silent band marks a shifted clip."""
    out = np.empty_like(specs)
    if bands > 0:
        out[:, bands:], out[:, :bands] = specs[:, :-bands], specs[:, :1]
    else:
        out[:, :bands], out[:, bands:] = specs[:, -bands:], specs[:, -1:]
    return out


def with_new_classes(specs, y, kinds):
    """The clips, plus a shifted copy of every clip per kind (``pitchK``) as new classes."""
    parts, labels = [specs], [y]
    for kind in kinds:
        bands = int(kind.removeprefix("pitch"))
        parts.append(shift_mels(specs, bands))
        labels.append(np.char.add(y.astype(str), f"~{kind}"))
    return np.concatenate(parts), np.concatenate(labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="row name")
    parser.add_argument("--fold", type=int, required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help="override the base recipe's parameters (80 epochs)")
    parser.add_argument("--new-classes", nargs="*", default=[], metavar="pitchK")
    parser.add_argument("--first-stride", type=int, nargs=2, default=None, metavar=("F", "T"))
    parser.add_argument("--episodes", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_ESC50)
    parser.add_argument("--keep-models", type=Path, default=None, metavar="DIR",
                        help="save the fold's encoder there")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = recipe_params("protocontrastive", args.set)
    if args.first_stride:
        encoder = Conv4Encoder(n_maps=params["n_maps"])
        encoder.blocks[0][0].stride = tuple(args.first_stride)
        params["encoder"] = encoder

    data = load_audio_folder(args.data, classes=_split(args.data, "train"))
    X, y = np.stack(data.data), data.target
    held_out = np.isin(y, folds(np.unique(y))[args.fold])
    specs = LogMelWindows().transform(X[~held_out], normalize=False).spectrograms
    specs, labels = with_new_classes(specs, y[~held_out], args.new_classes)
    encoder, cost = fit_encoder(params, specs, labels, args.fold)
    if args.keep_models:
        args.keep_models.mkdir(parents=True, exist_ok=True)
        path = args.keep_models / f"{args.name}_fold{args.fold}"
        if args.first_stride:
            joblib.dump(encoder, path.with_suffix(".joblib"))
        else:
            save(encoder, path.with_suffix(".safetensors"))
    X_train = X[~held_out]
    models = {"alone": few_shot_model(encoder, X_train, centre=False),
              "s02": few_shot_model(encoder, X_train, 0.2, centre=False),
              "s02probe": few_shot_model(encoder, X_train, 0.2, centre=False, probe_C=10)}
    fold_row = {"fold": args.fold, "set": " ".join(args.set),
                "new_classes": " ".join(args.new_classes),
                "first_stride": " ".join(map(str, args.first_stride or [])),
                "episodes": args.episodes, **cost,
                **episode_scores(models, X[held_out], y[held_out], args.episodes, args.fold)}
    print(json.dumps(fold_row), flush=True)
    save_fold_row(args.name, fold_row)


def save_fold_row(name, fold_row):
    """Add or replace the fold's row under ``name`` and refresh that name's means."""
    path = RESULTS / "screen_esc50.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    previous = next((r for r in rows if r["name"] == name), {"fold_rows": []})
    fold_rows = [r for r in previous["fold_rows"] if r["fold"] != fold_row["fold"]]
    fold_rows = sorted(fold_rows + [fold_row], key=lambda r: r["fold"])
    row = {"name": name, "changes": _changes(fold_row),
           "folds": " ".join(str(r["fold"]) for r in fold_rows),
           "fit_seconds": float(np.mean([r["fit_seconds"] for r in fold_rows])),
           **{k: float(np.mean([r[k] for r in fold_rows])) for k in SCORES},
           "fold_rows": fold_rows}
    _save_merged(
        "screen_esc50", [row], ("name",),
        title="Screening training changes: the 80-epoch recipe on ESC-50 train folds 0 and 1",
        columns=["name", "changes", "folds", *SCORES, "fit_seconds"],
        notes=("5-way accuracy % on each fold's 7 held-out train classes (1 query per "
               "class, 10,000 episodes), averaged over the folds listed; the encoder is "
               "trained on the fold's other 28 classes. alone: nearest cosine prototype "
               "on the learned embedding; s02: beside SpectralStatistics at weight 0.2; "
               "s02probe: the same with LinearProbeClassifier(C=10). fit_seconds: per "
               "fold, two folds trained at a time on the 2 cores, one thread each. Rows "
               "come from separate runs; the command and hardware below are the last "
               "run's."))


def _changes(fold_row):
    parts = [fold_row["set"]]
    if fold_row["new_classes"]:
        parts.append(f"new classes: {fold_row['new_classes']}")
    if fold_row["first_stride"]:
        parts.append(f"first stride {fold_row['first_stride']}")
    return "; ".join(p for p in parts if p) or "-"


if __name__ == "__main__":
    main()
