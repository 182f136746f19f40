"""Does ``skfewaudio train`` give the recipe's selection score? One fold, checked.

A user trains the recommended model on their own base classes with ``skfewaudio train
DIR --output FILE`` (``train_ensemble``). This script runs that command on the 28
ESC-50 train classes outside selection fold ``--fold`` (the folds of
``pretrain_esc50.py``), and scores the model on the fold's 7 held-out classes beside
the same recipe's encoders kept by ``pretrain_esc50.py --stage cv --keep-models``
(trained on the same 28 classes, one thread each, two folds at a time), joined the
same way (``join_encoders``). Both are scored by ``evaluate_episodes``, as
``skfewaudio evaluate`` does, on the same episodes (5-way, 1 query per class, seed 0).
The val classes are not read.

Usage: python benchmarks/train_command_esc50.py [--fold 0] [--trained FILE]
       [--keep-models DIR] [--episodes 10000]

``--trained FILE`` scores a model the command already wrote (its training seconds are
read from its networks) instead of training one; without it the model is trained and
written to ``--output`` (default: the ignored ``benchmarks/data/``). Writes
``results/train_command_esc50.{json,md}``.
"""

import argparse
import json
import tempfile
from pathlib import Path

from _results import DEFAULT_ESC50, RESULTS, save_results
from pretrain_esc50 import _split, folds, kept_model
from readout_esc50 import COMMITTED

from skfewaudio import evaluate_episodes, load, load_audio_folder
from skfewaudio.cli import main as skfewaudio
from skfewaudio.protocontrastive import join_encoders
from skfewaudio.protocontrastive._ensemble import joined_encoders


def fold_split(data, fold):
    """The fold's 28 training classes and 7 held-out classes, as a split file's dict."""
    train = _split(data, "train")
    held_out = [str(c) for c in folds(train)[fold]]
    return {"train": [c for c in train if c not in held_out], "heldout": held_out}


def trained_by_command(data, split, output):
    """``skfewaudio train`` on the split's train classes; the model file."""
    with tempfile.TemporaryDirectory() as scratch:
        split_file = Path(scratch) / "split.json"
        split_file.write_text(json.dumps(split))
        status = skfewaudio(["train", str(data), "--split-file", str(split_file),
                             "--output", str(output)])
    if status != 0:
        raise SystemExit(f"skfewaudio train exited with {status}")
    return output


def score(name, model, held_out, episodes):
    row = {"model": name, "fit_seconds": sum(n.fit_seconds_ for n in joined_encoders(model))}
    for shot in (1, 5):
        result = evaluate_episodes(model, held_out.data, held_out.target, n_way=5,
                                   n_shot=shot, n_query=1, n_episodes=episodes,
                                   random_state=0, progress=True)
        row[f"{shot}shot"] = 100 * result["accuracy"]
        row[f"{shot}shot_ci95"] = 100 * result["ci95"]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_ESC50)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--trained", type=Path, default=None,
                        help="a model skfewaudio train wrote; default: train one")
    parser.add_argument("--output", type=Path, default=None,
                        help="where the trained model is written (without --trained); "
                             "default: benchmarks/data/train_command_fold<FOLD>.safetensors "
                             "(not committed)")
    parser.add_argument("--keep-models", type=Path, default=None,
                        help="the fold encoders kept by pretrain_esc50.py --stage cv")
    parser.add_argument("--episodes", type=int, default=10000)
    args = parser.parse_args()

    split = fold_split(args.data, args.fold)
    output = args.output or RESULTS.parent / "data" / f"train_command_fold{args.fold}.safetensors"
    path = args.trained or trained_by_command(args.data, split, output)
    held_out = load_audio_folder(args.data, classes=split["heldout"], progress=True)
    rows = [score("skfewaudio train", load(path), held_out, args.episodes)]
    if args.keep_models is not None:
        encoders = [load(kept_model(args.keep_models, name, args.fold))
                    for name in COMMITTED]
        base = load_audio_folder(args.data, classes=split["train"], progress=True)
        rows.append(score("pretrain_esc50.py --stage cv encoders, joined",
                          join_encoders(encoders, base.data, base.target), held_out,
                          args.episodes))
    for row in rows:
        row["fold"] = args.fold
    save_results(
        "train_command_esc50", rows,
        columns=["model", "fold", "1shot", "1shot_ci95", "5shot", "5shot_ci95", "fit_seconds"],
        title="`skfewaudio train` against the selection runs of its recipe, on one fold",
        notes=(f"Trained on the 28 ESC-50 train classes outside fold {args.fold}, scored on "
               f"its 7 held-out classes ({', '.join(split['heldout'])}): 5-way, 1 query per "
               f"class, {args.episodes} episodes per shot, seed 0, the same episodes for both "
               "rows. fit_seconds: the networks' training time, summed (each network "
               "records its own). The cv encoders were trained one thread each, two folds "
               "at a time; the command on 2 threads, so the two runs differ in float "
               "rounding order and are separate draws of the same recipe."))


if __name__ == "__main__":
    main()
