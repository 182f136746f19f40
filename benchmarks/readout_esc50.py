"""Other rules on the committed recipe's embedding, scored on class-disjoint folds.

``pretrain_esc50.py --stage fusion`` reads the joined, whitened embedding of the fold
encoders with a linear probe (C=10). This script builds that same embedding (its
``few_shot_model`` with the committed settings, the fold encoders kept by ``--stage
cv``), embeds each fold's clips once, and scores other rules that read it on the same
episodes as the fusion stage (5-way, 1 query per class, seeded by the fold):

``probe``
    The committed rule: ``LinearProbeClassifier(C=10)``.
``support-centred``
    The probe on the episode's embeddings minus the mean of its support clips (no
    query seen), then L2-normalised: each episode's own origin instead of the base
    classes' mean.
``base-residuals``
    The probe on the support plus ``RESIDUAL_COPIES`` copies of each support clip,
    each shifted by the within-class residual (clip minus its class mean) of a random
    base-class clip of the fold's training classes: the base classes' within-class
    variation lent to the new classes.
``calibrated``
    Distribution calibration (Yang et al., 2021), non-parametric: the probe on the
    support plus ``RESIDUAL_COPIES`` points per support clip, each the mean of the
    clip and of the ``NEIGHBOURS`` base-class means nearest to it, shifted by the
    residual of a random clip of one of those classes.
``per-member``
    One probe per part of the embedding (each encoder's block and the spectral
    statistics' block of the whitened embedding, each L2-normalised), their
    log-probabilities summed: a late fusion in place of the joint probe.
``per-member-weighted``
    The same, each part's log-probabilities weighted by the part's weight in the
    joint embedding (0.5 for the spectral statistics, 0.5 shared by the encoders).
``episode-whitened``
    The probe after a second whitening from the episode's own support, on top of the
    base classes' (a task covariance, as Simple CNAPS uses): the directions spanned by
    the support clips' within-class residuals are shrunk by
    ``sqrt(k / (k + variance))``, ``k`` being ``EPISODE_SHRINKAGE`` times the mean
    of those variances, then shots and queries L2-normalised again. 1-shot episodes have
    no residuals: the probe as it is.
``base-negatives``
    The probe on the support plus each base class of the fold's training classes as
    one more class, ``n_shot`` copies of its mean embedding; the query takes the best
    of the episode's classes only. The base classes mark where the new classes are
    not, which one clip per class cannot.

Each run adds or replaces its rows (rule, encoders, folds and episodes) in
``results/readout_esc50.{json,md}``, the per-fold scores in the JSON.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _results import DEFAULT_ESC50
from pretrain_esc50 import (
    _embedding_once,
    _save_merged,
    _split,
    few_shot_model,
    folds,
    kept_model,
)

from skfewaudio import SpectralStatistics, load, load_audio_folder
from skfewaudio._prototypes import normalize
from skfewaudio.episodes import EpisodeSampler
from skfewaudio.episodes._evaluate import blockwise_episode_accuracies
from skfewaudio.linear_probe import probe_logits, probe_predictions
from skfewaudio.protocontrastive._ensemble import PROBE_C, SPECTRAL_WEIGHT, WHITENING

COMMITTED = ["protocontrastive 160 epochs", "protocontrastive 160 epochs resnet",
             "protocontrastive 160 epochs resnet 64 mels hop 256",
             "protocontrastive 160 epochs resnet pcen"]
TEXTURE_WEIGHT = 0.5
RESIDUAL_COPIES, NEIGHBOURS = 10, 2
EPISODE_SHRINKAGE = 1.0
RESIDUAL_BLOCK = 32  # episodes per probe fit: 11 x the support does not fit 512 at once


def probe(shots, queries):
    """The committed rule."""
    return probe_predictions(shots, queries, PROBE_C)


def support_centred(shots, queries):
    origin = shots.mean(axis=(1, 2))
    return probe(normalize(shots - origin[:, None, None]), normalize(queries - origin[:, None]))


def base_residuals(base, base_labels, seed, neighbours=0):
    """The ``base-residuals`` rule, its residuals taken from ``base`` embeddings; with
    ``neighbours``, the ``calibrated`` rule."""
    order = np.argsort(base_labels, kind="stable")
    base, base_labels = base[order], base_labels[order]
    classes, first, counts = np.unique(base_labels, return_index=True, return_counts=True)
    codes = np.repeat(np.arange(len(classes)), counts)
    means = np.stack([base[codes == c].mean(axis=0) for c in range(len(classes))])
    residuals = base - means[codes]
    rng = np.random.RandomState(seed)

    def copies_of(block):
        shape = block.shape[:3] + (RESIDUAL_COPIES,)
        if not neighbours:
            return block[..., None, :] + residuals[rng.randint(len(residuals), size=shape)]
        nearest = np.argsort(-block @ normalize(means).T, axis=-1)[..., :neighbours]
        centre = (block + means[nearest].sum(axis=-2)) / (neighbours + 1)
        chosen = np.take_along_axis(nearest, rng.randint(neighbours, size=shape), axis=-1)
        drawn = first[chosen] + (rng.random_sample(shape) * counts[chosen]).astype(int)
        return centre[..., None, :] + residuals[drawn]

    @in_blocks
    def rule(shots, queries):
        grown = np.concatenate([shots[..., None, :], normalize(copies_of(shots))], axis=3)
        return probe(grown.reshape(*shots.shape[:2], -1, shots.shape[-1]), queries)
    return rule


def in_blocks(rule):
    """``rule`` applied ``RESIDUAL_BLOCK`` episodes at a time, for rules whose arrays
    grow several-fold with the support."""
    def blockwise(shots, queries):
        return np.concatenate([rule(shots[start:start + RESIDUAL_BLOCK],
                                    queries[start:start + RESIDUAL_BLOCK])
                               for start in range(0, len(shots), RESIDUAL_BLOCK)])
    return blockwise


@in_blocks
def episode_whitened(shots, queries):
    n_episodes, n_way, n_shot, dim = shots.shape
    if n_shot == 1:
        return probe(shots, queries)
    residuals = (shots - shots.mean(axis=2, keepdims=True)).reshape(n_episodes, -1, dim)
    # The residuals' variances and directions from their small Gram matrices.
    variance, mix = np.linalg.eigh(residuals @ residuals.transpose(0, 2, 1)
                                   / (n_way * (n_shot - 1)))
    kept = variance > 1e-10 * variance[:, -1:]
    variance = np.where(kept, variance, 1.0)
    directions = (residuals.transpose(0, 2, 1) @ mix * kept[:, None]
                  / np.sqrt(variance * n_way * (n_shot - 1))[:, None])
    k = EPISODE_SHRINKAGE * ((variance * kept).sum(axis=1, keepdims=True)
                             / kept.sum(axis=1, keepdims=True))
    shrink = (1 - np.sqrt(k / (k + variance))) * kept

    def whiten(x):
        flat = x.reshape(len(x), -1, dim)
        return normalize(flat - (flat @ directions * shrink[:, None]) @ directions
                         .transpose(0, 2, 1)).reshape(x.shape)
    return probe(whiten(shots), whiten(queries))


def base_negatives(base, base_labels):
    """The ``base-negatives`` rule, its extra classes the means of ``base`` by label."""
    means = normalize(np.stack([base[base_labels == c].mean(axis=0)
                                for c in np.unique(base_labels)]))

    @in_blocks
    def rule(shots, queries):
        n_episodes, n_way, n_shot, dim = shots.shape
        negatives = np.broadcast_to(means[None, :, None], (n_episodes, len(means), n_shot, dim))
        logits = probe_logits(np.concatenate([shots, negatives], axis=1), queries, PROBE_C)
        return logits[..., :n_way].argmax(axis=2)
    return rule


def per_member(parts, weights):
    """The ``per-member`` rules: ``parts`` the column slices of the embedding."""
    def rule(shots, queries):
        total = 0
        for part, weight in zip(parts, weights):
            logits = probe_logits(normalize(shots[..., part]), normalize(queries[..., part]),
                                  PROBE_C)
            total = total + weight * torch.log_softmax(torch.as_tensor(logits), -1).numpy()
        return total.argmax(axis=2)
    return rule


def fold_embedding(X, y, held_out, encoders, spectral):
    """The committed reading's embedding of every clip, as the probe sees it, and its
    parts: the column slice of each encoder and of the spectral statistics, and the
    weight of each in the joint embedding."""
    model = few_shot_model(encoders, X[~held_out], spectral_weight=SPECTRAL_WEIGHT,
                           probe_C=PROBE_C, y_train=y[~held_out], whitening=WHITENING,
                           spectral=spectral)
    union = model.encoder.steps[0][1].estimator  # FrozenEstimator(FeatureUnion)
    widths = [part.transform(X[:1]).shape[1] for _, part in union.transformer_list]
    edges = np.cumsum([0] + widths)
    parts = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
    weights = [union.transformer_weights[name]**2 for name, _ in union.transformer_list]
    embedding = normalize(np.asarray(model.encoder.transform(X), dtype=np.float64))
    return embedding, parts, weights


def score_fold(args, X, y, f, spectral):
    held_out = np.isin(y, folds(np.unique(y))[f])
    # Each encoder embeds the clips once, though the pipeline is fitted and applied
    # in several steps.
    encoders = [_embedding_once(load(kept_model(args.keep_models, name, f))
                                .set_params(test_time_pool="auto")) for name in args.names]
    embedding, parts, weights = fold_embedding(X, y, held_out, encoders, spectral)
    rules = {"probe": probe, "support-centred": support_centred,
             "base-residuals": base_residuals(embedding[~held_out], y[~held_out], f),
             "calibrated": base_residuals(embedding[~held_out], y[~held_out], f, NEIGHBOURS),
             "per-member": per_member(parts, [1.0] * len(parts)),
             "per-member-weighted": per_member(parts, weights),
             "episode-whitened": episode_whitened,
             "base-negatives": base_negatives(embedding[~held_out], y[~held_out])}
    scores = {}
    for shot in (1, 5):
        support, query = EpisodeSampler(5, shot, 1, args.episodes, f).sample(y[held_out])
        for rule in args.rules:
            accuracies = blockwise_episode_accuracies(embedding[held_out], support, query,
                                                      rules[rule])
            scores[rule, shot] = 100 * float(accuracies.mean())
            print(f"fold {f} {rule} {shot}-shot: {scores[rule, shot]:.2f}", flush=True)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-models", type=Path, required=True, metavar="DIR",
                        help="the fold encoders kept by pretrain_esc50.py --stage cv")
    parser.add_argument("--names", nargs="+", default=COMMITTED,
                        help="the CV rows whose fold encoders are joined")
    parser.add_argument("--rules", nargs="+", default=["probe", "support-centred",
                                                        "base-residuals", "calibrated",
                                                        "per-member", "per-member-weighted",
                                                        "episode-whitened",
                                                        "base-negatives"])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=DEFAULT_ESC50)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = load_audio_folder(args.data, classes=_split(args.data, "train"))
    X, y = np.stack(data.data), data.target
    # No learning: the same statistics for every fold, computed once.
    spectral = _embedding_once(SpectralStatistics(texture_weight=TEXTURE_WEIGHT))
    per_fold = [score_fold(args, X, y, f, spectral) for f in args.folds]
    rows = [{"rule": rule, "encoders": " + ".join(args.names),
             "folds": " ".join(map(str, args.folds)), "episodes": args.episodes,
             **{f"{shot}shot": float(np.mean([s[rule, shot] for s in per_fold]))
                for shot in (1, 5)},
             **{f"{shot}shot_per_fold": [s[rule, shot] for s in per_fold] for shot in (1, 5)}}
            for rule in args.rules]
    _save_merged(
        "readout_esc50", rows, ("rule", "encoders", "folds", "episodes"), old_row_values={},
        title="Rules reading the committed recipe's embedding: class-disjoint CV on the "
        "ESC-50 train classes",
        columns=["rule", "folds", "episodes", "1shot", "5shot"],
        notes=("5-way accuracy (%), 1 query per class, the episodes of "
               "pretrain_esc50.py --stage fusion (seeded by the fold), averaged over the "
               "folds (each fold's score in the JSON). The embedding is the committed "
               "recipe's: the fold encoders of the `encoders` CV rows, centred, joined with "
               f"SpectralStatistics(texture_weight={TEXTURE_WEIGHT}) at weight "
               f"{SPECTRAL_WEIGHT}, WithinClassWhitening(shrinkage={WHITENING}) learned on "
               "the fold's training classes; rules in the script's docstring. Rows come "
               "from separate runs; the command below is the last run's."))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
