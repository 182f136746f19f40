"""Few-shot encoders trained on the ESC-50 train classes, chosen by class-disjoint CV.

Three stages, so that the val classes are used once, at the end:

``--stage cv``
    Score one recipe (a named entry of ``RECIPES`` plus ``--set`` overrides) on
    class-disjoint folds of the 35 train classes: the 35 are split into 5 folds of 7
    (seeded); each fold trains the recipe's estimator on the other 28 classes and
    scores 5-way 1-shot and 5-shot episodes (1 query per class, nearest cosine
    prototype) on its 7 held-out classes, with the embeddings centred on the mean
    training embedding (CL2N, as SimpleShot) and without. Each run adds or replaces
    its row (recipe and folds) in ``results/pretrain_esc50_cv.{json,md}``;
    ``--keep-models`` saves the fold encoders, so that folds trained by separate
    processes (one per core) can be scored together by ``--stage fusion``.
``--stage fusion``
    Score the kept fold encoders of one or more CV rows, joined (an ensemble) and with
    ``SpectralStatistics`` beside them at several weights (see :func:`few_shot_model`),
    by nearest prototype and/or a linear probe (``--heads prototype 10``), optionally
    through a ``WithinClassWhitening`` learned on the fold's training clips
    (``--whitenings none 0.97``) and with test-time shifts (``--test-time-shifts``):
    ``results/pretrain_esc50_fusion.{json,md}``. Costs no training.
``--stage final``
    Train the chosen recipe on all 35 train classes (one encoder per ``--seeds``; or
    join the encoders of saved models with ``--encoders-from``), save the few-shot
    model with ``skfewaudio.save``, and score the 5 val classes once (10,000 episodes
    per shot): ``results/pretrain_esc50_final.{json,md}``, one row per ``--model``
    path.

The folds train on spectrograms computed once by the estimator's own front-end
(3-D input to ``fit``, the same log-mels it computes from waveforms); the final
model is trained on the waveforms, so it is the model a user gets. The exact
commands behind the committed results are in ``docs/protocontrastive.md``.
"""

import argparse
import fcntl
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from _results import DEFAULT_ESC50, RESULTS, save_results

from skfewaudio import (
    SpectralStatistics,
    evaluate_episodes,
    load,
    load_audio_folder,
    save,
)
from skfewaudio._windows import FRONT_END_CONSTRAINTS, LogMelWindows
from skfewaudio.protocontrastive import ProtoContrastiveClassifier, join_encoders
from skfewaudio.protocontrastive._ensemble import joined_encoders
from skfewaudio.supcon import SupConPretrainer

_BASE = dict(encoder="conv4", loss="cross_entropy", max_epochs=20, lr=0.05, batch_size=128,
             random_state=0)
# SpectralStatistics' own default: texture statistics share its part of the embedding.
TEXTURE_WEIGHT = SpectralStatistics().texture_weight
RECIPES = {
    # The earlier committed model's recipe (benchmarks/protocontrastive_esc50.py --stage
    # best --set contrastive=supcon) for a fixed 80 epochs of 20 episodes, instead of
    # the epoch its val accuracy picked; ProtoContrastiveClassifier()'s defaults until
    # max_epochs became 160 (the committed model: --set max_epochs=160), written out
    # so that the rows stay reproducible when the defaults change.
    "protocontrastive": dict(
        estimator="protocontrastive", encoder="conv4", n_maps=32, in_stride=2,
        metric="cosine", n_way=10, n_shot=1, n_query=2, lr=1e-3, freq_mask_param=16,
        time_mask_param=20, contrastive="supcon", n_views=2, contrastive_weight=0.5,
        temperature=0.1, max_epochs=80, episodes_per_epoch=20, random_state=0),
    # Supervised pre-training with cross-entropy (SimpleShot), the conv-4 encoder with
    # global average pooling, SupConPretrainer's augmentation chain on both views.
    "ce": _BASE,
}
N_FOLDS, FOLD_SEED = 5, 123


def folds(classes):
    """5 folds of 7 classes each (a seeded permutation of the 35 train classes)."""
    order = np.random.RandomState(FOLD_SEED).permutation(np.sort(classes))
    return np.array_split(order, N_FOLDS)


def few_shot_model(encoders, X_train, spectral_weight=0.0, centre=True, probe_C=None,
                   y_train=None, whitening=None, spectral=None):
    """:func:`skfewaudio.protocontrastive.join_encoders` with this script's defaults
    (no spectral statistics, no whitening, the nearest cosine prototype), which its
    table rows were named by."""
    return join_encoders(encoders, X_train, y_train, spectral_weight=spectral_weight,
                         whitening=whitening, C=probe_C, centre=centre, spectral=spectral)


def _head_label(probe_C):
    return "prototype" if probe_C is None else f"probe C={probe_C:g}"


def episode_scores(models, X, y, episodes, seed):
    """5-way accuracy (%) and 95 % CI of each model, 1- and 5-shot, same episodes."""
    row = {}
    for name, model in models.items():
        for shot in (1, 5):
            result = evaluate_episodes(model, X, y, n_way=5, n_shot=shot, n_query=1,
                                       n_episodes=episodes, random_state=seed)
            row[f"{name}_{shot}shot"] = 100 * result["accuracy"]
            row[f"{name}_{shot}shot_ci95"] = 100 * result["ci95"]
    return row


def fit_encoder(params, X, y, seed_offset=0, start_from=None):
    """The recipe's encoder fitted on (X, y), and its training cost; ``start_from`` (a
    fitted ProtoContrastiveClassifier) gives the conv-4 its starting weights."""
    params = {**params, "random_state": params["random_state"] + seed_offset}
    protocontrastive = params.pop("estimator", None) == "protocontrastive"
    if start_from is not None and not protocontrastive:
        raise ValueError("--start-from applies to protocontrastive recipes only.")
    shape = ("n_maps", "in_stride")  # what the conv-4's weights depend on
    if start_from is not None and any(getattr(start_from, k) != params[k] for k in shape):
        raise ValueError(f"--start-from: the saved conv-4 has {start_from.n_maps} maps and "
                         f"first stride {start_from.in_stride}, the recipe "
                         f"{params['n_maps']} and {params['in_stride']}; the model saved "
                         "after training would not load.")
    if protocontrastive:
        if start_from is not None:
            params["encoder"] = start_from.net_.module_.encoder  # copied by the estimator
        model = ProtoContrastiveClassifier(**params).fit(X, y)
        if start_from is not None:  # the same conv-4, so skfewaudio.save can store it
            model.set_params(encoder=start_from.encoder)
    else:
        model = SupConPretrainer(**params).fit(X, y)
    return model, training_cost(model, len(X))


def training_cost(model, n_clips):
    """A fitted encoder's training seconds and clips per second, from its own record
    (so saved encoders carry their cost); ``n_clips``: the clips of an epoch of
    SupConPretrainer (ProtoContrastiveClassifier's epochs are episodes)."""
    if isinstance(model, ProtoContrastiveClassifier):
        n_clips = model.episodes_per_epoch * model.n_way * (model.n_shot + model.n_query)
    seconds = float(np.sum(model.net_.history[:, "dur"]))
    return {"fit_seconds": model.fit_seconds_,
            "train_clips_per_s": n_clips * len(model.net_.history) / seconds}


def kept_model(directory, name, fold):
    """Where ``--keep-models`` keeps the encoder of CV row ``name`` for ``fold``."""
    return directory / f"{name.replace(' ', '_')}_fold{fold}.safetensors"


def train_clips(args):
    """The 35 train classes' clips (stacked) and labels, silence trimmed with
    ``--trim-silence``."""
    data = load_audio_folder(args.data, classes=_split(args.data, "train"))
    X = np.stack(data.data)
    if args.trim_silence:
        X = np.stack([silence_trimmed(clip) for clip in X])
    return X, data.target


def run_cv(args, params):
    X, y = train_clips(args)
    # The estimator's own front-end, once: folds then train on the log-mels.
    front_end = {k: params[k] for k in FRONT_END_CONSTRAINTS if k in params}
    specs = LogMelWindows(**front_end).transform(X, normalize=False).spectrograms
    fold_rows = []
    for f in args.folds:
        held_out = np.isin(y, folds(np.unique(y))[f])
        start = args.start_from and load(str(args.start_from).format(fold=f))
        pre, cost = fit_encoder(params, specs[~held_out], y[~held_out], f, start)
        if args.keep_models:
            args.keep_models.mkdir(parents=True, exist_ok=True)
            save(pre, kept_model(args.keep_models, args.recipe, f))
        models = {"cl2n": few_shot_model(pre, specs[~held_out]),
                  "l2n": few_shot_model(pre, specs[~held_out], centre=False)}
        fold_rows.append({**cost, **episode_scores(models, specs[held_out], y[held_out],
                                                   args.episodes, f)})
        print(f"fold {f}: " + ", ".join(f"{k} {v:.2f}" for k, v in fold_rows[-1].items()
                                        if k.endswith("shot")), flush=True)
    changes = _changes(params, args.start_from)
    row = {"recipe": args.recipe,
           "changes": changes + ("; silence trimmed" if args.trim_silence else ""),
           "folds": " ".join(map(str, args.folds)),
           "test_time_pool": _pool_read(pre, specs.shape[-2:]), "episodes": args.episodes}
    for key in fold_rows[0]:
        row[key] = float(np.mean([r[key] for r in fold_rows]))
    row["fold_rows"] = fold_rows
    _save_merged(
        "pretrain_esc50_cv", [row], ("recipe", "folds"),
        title="Supervised pre-training: class-disjoint CV on the 35 ESC-50 train classes",
        columns=["recipe", "changes", "folds", "test_time_pool", "cl2n_1shot", "cl2n_5shot",
                 "l2n_1shot", "l2n_5shot", "train_clips_per_s", "fit_seconds"],
        notes=("Each fold trains on 28 train classes and scores 5-way episodes (1 query "
               "per class, nearest cosine prototype) on its 7 held-out train classes; "
               "accuracy % averaged over the folds listed (mean of fold CIs in the JSON). "
               "cl2n: embeddings centred on the mean training embedding; l2n: not "
               "centred. test_time_pool: how the trained conv-4's (or ResNet's) last "
               "feature map was read (the estimator's default, test_time_pool='auto', "
               "read the conv-4's flattened until commit a1e9420, then flatten+stats, and "
               "flatten+texture from commit 19097a5 on; rows saved before this column "
               "were labelled from the commit that added them; the first ResNet rows were "
               "read max, before 'auto' meant max+texture for it), - for other "
               "encoders: rows read differently do not compare. The val classes are not "
               "used here. Rows come from separate "
               "runs (each row's settings are in the JSON); the command and hardware "
               "below are the last run's."))


# Columns added after rows were saved, with the value they had for those rows (every
# run before had the nearest-prototype head and the default 10,000 episodes).
_OLD_ROW_VALUES = {"head": "prototype", "episodes": 10000, "whitening": "-",
                   "encoders_from": "-", "texture_weight": 0.0, "test_time_pool": "-"}


def _save_merged(name, new_rows, key, old_row_values=_OLD_ROW_VALUES, **table):
    """Save ``results/<name>``: the rows saved so far (completed by
    ``old_row_values``), those with the same ``key`` as one of ``new_rows`` replaced
    by it.

    Folds are trained one process per core, and two may finish together: the read,
    merge and write hold an exclusive lock, so that neither drops the other's row.
    """
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        path = RESULTS / f"{name}.json"
        rows = json.loads(path.read_text())["rows"] if path.exists() else []
        rows = [{**old_row_values, **r} for r in rows]
        new_keys = {tuple(r[k] for k in key) for r in new_rows}
        kept = [r for r in rows if tuple(r[k] for k in key) not in new_keys]
        save_results(name, kept + new_rows, **table)


def _at_test_time(encoder, args):
    """``encoder`` with ``--test-time-shifts`` and ``--test-time-pool`` set, where it is
    a meta-trained network."""
    if isinstance(encoder, ProtoContrastiveClassifier):
        encoder.set_params(test_time_shifts=tuple(args.test_time_shifts))
        if args.test_time_pool:  # else the pool the encoder was saved or trained with
            encoder.set_params(test_time_pool=args.test_time_pool)
    return encoder


def _pool_read(model, window_shape):
    """The pool a fitted ProtoContrastiveClassifier's built-in conv-4 or ResNet embeds
    windows of ``window_shape`` with (its ``test_time_pool``, "auto" resolved); -
    otherwise."""
    if not isinstance(model, ProtoContrastiveClassifier):
        return "-"
    module = model.net_.module_
    trained = getattr(module.encoder, "pool", None)  # the CRNN and custom modules: none
    if trained is None:
        return "-"
    return model._resolved_pool(module, window_shape) or trained


def _pool_label(encoders):
    """How the meta-trained encoders read their last feature map: each one's
    :func:`_pool_read` of its own window, the distinct reads joined by " + "."""
    reads = [_pool_read(e, (e.n_mels, e.frontend_.window_frames)) for e in encoders
             if isinstance(e, ProtoContrastiveClassifier)]
    return " + ".join(dict.fromkeys(reads)) or "-"


def _embedding_once(encoder):
    """``encoder``, its ``transform`` remembering its output for each distinct input:
    the fusion stage embeds the same fold clips for every setting it scores."""
    transform, seen = encoder.transform, {}

    def remembered(X):
        key = hashlib.sha1(np.ascontiguousarray(X)).hexdigest()
        if key not in seen:
            seen[key] = transform(X)
        return seen[key]

    encoder.transform = remembered
    return encoder


def silence_trimmed(clip, floor=1e-4, shortest=1600):
    """``clip`` without its leading and trailing near-silence (samples under ``floor``),
    the rest repeated to the clip's length; unchanged where under ``shortest`` samples
    would be left. ESC-50 pads short sounds with digital silence, so one bark may sit at
    any place of its 5 s."""
    loud = np.flatnonzero(np.abs(clip) >= floor)
    if len(loud) == 0 or loud[-1] + 1 - loud[0] < shortest:
        return clip
    return np.resize(clip[loud[0]:loud[-1] + 1], len(clip))


def _shift_label(shifts):
    return " ".join(map(str, shifts)) if shifts else "-"


def run_fusion(args, params):
    """Score the kept fold encoders of ``--recipe`` with each spectral weight and head."""
    X, y = train_clips(args)
    settings = [(w, t, c, wh) for w in args.spectral_weights for t in args.texture_weights
                for c in args.heads for wh in args.whitenings]
    rows = {setting: [] for setting in settings}
    for f in args.folds:
        held_out = np.isin(y, folds(np.unique(y))[f])
        pre = [_embedding_once(_at_test_time(
            load(kept_model(args.keep_models, name, f)),
            args)) for name in [args.recipe] + args.ensemble_with]
        if args.statistics_member is not None:  # fitted on the fold's training classes
            pre.append(_embedding_once(statistics_member(args.statistics_member)
                                       .fit(X[~held_out])))
        pool_label = _pool_label(pre)
        spectral = {t: _embedding_once(SpectralStatistics(texture_weight=t))
                    for t in args.texture_weights}
        for w, t, c, wh in settings:
            train = dict(X_train=X[~held_out], y_train=y[~held_out], probe_C=c, whitening=wh,
                         spectral=spectral[t])
            models = {"cl2n": few_shot_model(pre, spectral_weight=w, **train),
                      "l2n": few_shot_model(pre, spectral_weight=w, centre=False, **train)}
            rows[w, t, c, wh].append(episode_scores(models, X[held_out], y[held_out],
                                                    args.episodes, f))
            print(f"fold {f} spectral_weight {w} texture {t} {_head_label(c)} whitening "
                  f"{_whitening_label(wh)}: " + ", ".join(
                      f"{k} {v:.2f}" for k, v in rows[w, t, c, wh][-1].items()
                      if k.endswith("shot")), flush=True)
    members = [args.recipe] + args.ensemble_with
    if args.statistics_member is not None:
        members.append(" ".join(["spectral"] + args.statistics_member))
    if args.trim_silence:
        members[-1] += " (silence trimmed)"
    table = [{"recipe": " + ".join(members), "spectral_weight": w,
              "texture_weight": t, "head": _head_label(c), "whitening": _whitening_label(wh),
              "test_time_shifts": _shift_label(args.test_time_shifts),
              "test_time_pool": pool_label,
              "folds": " ".join(map(str, args.folds)), "episodes": args.episodes,
              **{k: float(np.mean([r[k] for r in fold_rows])) for k in fold_rows[0]}}
             for (w, t, c, wh), fold_rows in rows.items()]
    _save_merged(
        "pretrain_esc50_fusion", table,
        ("recipe", "spectral_weight", "texture_weight", "head", "whitening",
         "test_time_shifts", "test_time_pool", "folds"),
        title="Learned embedding + spectral statistics: class-disjoint CV on the ESC-50 "
        "train classes",
        columns=["recipe", "spectral_weight", "texture_weight", "head", "whitening",
                 "test_time_shifts", "test_time_pool", "folds", "episodes", "cl2n_1shot",
                 "cl2n_5shot", "l2n_1shot", "l2n_5shot"],
        notes=("The fold encoders of the CV table (trained on 28 train classes), scored on "
               "their 7 held-out classes as in the CV table. spectral_weight w: the cosine "
               "similarity is (1 - w) x that of the learned embedding + w x that of "
               "SpectralStatistics (texture_weight: its own, 0 for rows before texture "
               "statistics existed); a recipe joined by + is an equal-weight ensemble of "
               "the fold encoders of those CV rows (`few_shot_model` in the script); a member "
               "`spectral KEY=JSON...` is SpectralStatistics(standardize='fit') with those "
               "settings, fitted on the fold's training clips (--statistics-member). "
               "head: nearest cosine prototype, or `LinearProbeClassifier(C=...)` on the "
               "same embedding. whitening: the shrinkage of a `WithinClassWhitening` of "
               "the joined embedding learned on the fold's training clips, - for none. "
               "test_time_shifts: the encoders' `test_time_shifts` (frames), - for none; "
               "test_time_pool: the pool each conv-4 or ResNet read its last map with "
               "('auto' resolved), - for other encoders (rows before 2026-12-07: the "
               "encoders' `test_time_pool` setting, - for the trained pool). "
               "cl2n: the learned embeddings centred on the training clips' mean; l2n: "
               "not."))


def final_encoders(args, params, train):
    """One encoder per seed trained on the train classes, and their training cost; or,
    with ``--encoders-from``, the encoders of those saved models (those of
    ``--pick-encoders`` only, where given) and the training cost each records, summed
    (so seeds trained by separate processes, one per core, can be joined)."""
    if args.encoders_from:
        encoders = [e for path in args.encoders_from for e in _learned_encoders(path)]
        if args.pick_encoders:
            encoders = [encoders[i] for i in args.pick_encoders]
        encoders = [_at_test_time(e, args) for e in encoders]
        return encoders, _summed([training_cost(e, len(train.data)) for e in encoders])
    encoders, costs = [], []
    starts = _learned_encoders(args.start_from) if args.start_from else [None] * len(args.seeds)
    for seed, start in zip(args.seeds, starts, strict=True):  # several seeds: an ensemble
        encoder, cost = fit_encoder({**params, "random_state": seed}, train.data, train.target,
                                    start_from=start)
        encoders.append(_at_test_time(encoder, args))
        costs.append(cost)
    return encoders, _summed(costs)


def _learned_encoders(path):
    """The fitted network encoders inside a model saved from :func:`few_shot_model`."""
    return joined_encoders(load(path))


def _summed(costs):
    """Training seconds added up (what one process would spend on all the encoders)
    and the mean clips per second."""
    return {"fit_seconds": float(sum(c["fit_seconds"] for c in costs)),
            "train_clips_per_s": float(np.mean([c["train_clips_per_s"] for c in costs]))}


def run_final(args, params):
    train = load_audio_folder(args.data, classes=_split(args.data, "train"), progress=True)
    encoders, cost = final_encoders(args, params, train)
    model = few_shot_model(encoders, train.data, args.spectral_weight,
                           centre=not args.no_centre, probe_C=args.probe_C,
                           y_train=train.target, whitening=args.whitening,
                           spectral=SpectralStatistics(texture_weight=args.texture_weight))
    if args.model:
        save(model, args.model)
    row = {"model": str(args.model), "recipe": args.recipe,
           "changes": _changes(params, args.start_from),
           "seeds": " ".join(str(e.random_state) for e in encoders),
           "centred": not args.no_centre,
           "spectral_weight": args.spectral_weight, "texture_weight": args.texture_weight,
           "head": _head_label(args.probe_C),
           "whitening": _whitening_label(args.whitening),
           "encoders_from": _encoders_from_label(args.encoders_from, args.pick_encoders),
           "episodes": args.episodes,
           "test_time_shifts": _shift_label(args.test_time_shifts),
           "test_time_pool": _pool_label(encoders), **cost}
    if not args.no_val:  # the val classes are read only here, and scored once
        val = load_audio_folder(args.data, classes=_split(args.data, "val"), progress=True)
        row.update(episode_scores({"val": model}, val.data, val.target, args.episodes, 0))
    _save_merged(
        "pretrain_esc50_final", [row], ("model",),
        title="Supervised pre-training: the chosen recipe on the 5 ESC-50 val classes "
        "(reported once)",
        columns=["model", "recipe", "changes", "seeds", "encoders_from", "centred",
                 "spectral_weight", "texture_weight", "head", "whitening",
                 "test_time_shifts", "test_time_pool", "val_1shot",
                 "val_1shot_ci95", "val_5shot", "val_5shot_ci95", "train_clips_per_s",
                 "fit_seconds"],
        notes=(f"Trained on the 35 train classes; 5-way, 1 query per class, "
               f"{args.episodes} episodes per shot, seed 0. Rows come from separate runs; "
               f"the command and hardware below are the last run's."))


def _changes(params, start_from=None):
    """The recipe's settings that differ from its base recipe's."""
    protocontrastive = params.get("estimator") == "protocontrastive"
    base = RECIPES["protocontrastive"] if protocontrastive else _BASE
    changed = ", ".join(f"{k}={v}" for k, v in params.items() if base.get(k, None) != v)
    if start_from:
        changed += f"{', ' if changed else ''}started from {start_from}"
    if protocontrastive:
        defaults = "base recipe (SupCon + fusion, 1,600 episodes)"
        return f"{defaults}; {changed}" if changed else defaults
    return changed or "-"


def _head(text):
    """``prototype`` (None) or a linear probe's C."""
    return None if text == "prototype" else float(text)


def _whitening(text):
    """``none`` (None) or a ``WithinClassWhitening`` shrinkage."""
    return None if text == "none" else float(text)


def _whitening_label(shrinkage):
    return "-" if shrinkage is None else f"{shrinkage:g}"


def _encoders_from_label(paths, picked):
    if not paths:
        return "-"
    label = " ".join(map(str, paths))
    return f"{label} (encoders {' '.join(map(str, picked))})" if picked else label


def recipe_params(recipe, overrides):
    """The parameters of ``RECIPES[recipe]`` with ``KEY=JSON`` overrides applied."""
    return {**RECIPES[recipe], **_parsed(overrides)}


def _parsed(items):
    """``KEY=JSON`` items as a dict."""
    return {key: json.loads(value) for key, value in (item.split("=", 1) for item in items)}


def statistics_member(items):
    """The no-learning member of ``--statistics-member``: ``SpectralStatistics`` with
    those ``KEY=JSON`` settings, standardised on the clips it is fitted on."""
    return SpectralStatistics(standardize="fit", **_parsed(items))


def _split(data_dir, key):
    return json.loads((Path(data_dir) / "splits.json").read_text())[key]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("cv", "fusion", "final"), required=True)
    parser.add_argument("--recipe", choices=sorted(RECIPES), required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help="override recipe parameters, e.g. max_epochs=40")
    parser.add_argument("--name", help="row name (default: the recipe, plus --set)")
    parser.add_argument("--folds", type=int, nargs="+", default=list(range(N_FOLDS)))
    parser.add_argument("--episodes", type=int, default=None,
                        help="episodes per shot (default: 10000)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=DEFAULT_ESC50)
    parser.add_argument("--model", type=Path, default=None, help="final: save it here")
    parser.add_argument("--keep-models", type=Path, default=None, metavar="DIR",
                        help="cv: save each fold's encoder there; fusion: read them")
    parser.add_argument("--ensemble-with", nargs="*", default=[], metavar="NAME",
                        help="fusion: also join the kept fold encoders of these rows")
    parser.add_argument("--statistics-member", nargs="*", default=None, metavar="KEY=JSON",
                        help="fusion: also join SpectralStatistics(standardize='fit', "
                        "KEY=JSON...) fitted on each fold's training clips, as a member")
    parser.add_argument("--spectral-weights", type=float, nargs="+",
                        default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--spectral-weight", type=float, default=0.0,
                        help="final: the chosen weight of SpectralStatistics")
    parser.add_argument("--texture-weights", type=float, nargs="+", default=[TEXTURE_WEIGHT],
                        help="fusion: SpectralStatistics' texture_weight values to score")
    parser.add_argument("--texture-weight", type=float, default=TEXTURE_WEIGHT,
                        help="final: the chosen texture_weight of SpectralStatistics")
    parser.add_argument("--heads", type=_head, nargs="+", default=[None], metavar="HEAD",
                        help="fusion: 'prototype' and/or linear-probe C values to score")
    parser.add_argument("--whitenings", type=_whitening, nargs="+", default=[None],
                        metavar="SHRINKAGE", help="fusion: 'none' and/or shrinkages of a "
                        "WithinClassWhitening of the joined embedding to score")
    parser.add_argument("--whitening", type=float, default=None, metavar="SHRINKAGE",
                        help="final: a WithinClassWhitening with this shrinkage, learned on "
                        "the train classes, before the head")
    parser.add_argument("--probe-C", type=float, default=None,
                        help="final: a LinearProbeClassifier with this C instead of the "
                        "nearest prototype")
    parser.add_argument("--test-time-shifts", type=int, nargs="*", default=[],
                        metavar="FRAMES", help="fusion and final: the meta-trained "
                        "encoders' test_time_shifts (test-time augmentation)")
    parser.add_argument("--test-time-pool", default=None,
                        help="fusion and final: set the meta-trained encoders' "
                        "test_time_pool, e.g. flatten+stats, or auto to read each the "
                        "estimator's default way, as an ensemble of a conv-4 and a ResNet "
                        "needs (by default the pool they were saved with; encoders saved "
                        "before the parameter existed embed with the trained pool)")
    parser.add_argument("--trim-silence", action="store_true",
                        help="cv and fusion: train on and read every clip with its leading "
                        "and trailing silence cut and the rest repeated to its length "
                        "(silence_trimmed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="final: train one encoder per seed and join them")
    parser.add_argument("--encoders-from", type=Path, nargs="+", default=[],
                        metavar="MODEL",
                        help="final: instead of training, join the encoders of these "
                        "saved models, e.g. to give them another head or join seeds "
                        "trained in parallel")
    parser.add_argument("--pick-encoders", type=int, nargs="+", default=[], metavar="I",
                        help="final, with --encoders-from: join only these of their "
                        "encoders (0-based, in the order the models hold them)")
    parser.add_argument("--start-from", type=Path, default=None, metavar="PATH",
                        help="cv: a kept fold model, {fold} in the path standing for the "
                        "fold; final: a saved model, its encoders in --seeds order. Each "
                        "conv-4 starts from that model's weights (a warm restart: new "
                        "fusion and projection heads, optimizer and schedule)")
    parser.add_argument("--no-val", action="store_true",
                        help="final: train and save, but leave the val classes unscored "
                        "(a seed to be joined by a later --encoders-from run)")
    parser.add_argument("--no-centre", action="store_true",
                        help="final: do not centre the learned embeddings (L2N, not CL2N)")
    args = parser.parse_args(argv)
    if args.start_from and args.encoders_from:  # joining saved encoders trains nothing
        parser.error("--start-from trains from saved weights; --encoders-from trains "
                     "nothing: give one of them.")
    if args.threads:
        torch.set_num_threads(args.threads)
    params = recipe_params(args.recipe, args.set)
    args.recipe = args.name or " ".join([args.recipe] + args.set)
    args.episodes = args.episodes or 10000
    start = time.perf_counter()
    {"cv": run_cv, "fusion": run_fusion, "final": run_final}[args.stage](args, params)
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
