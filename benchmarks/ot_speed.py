"""Batched Sinkhorn (torch) against POT's own batched solver and a per-pair POT loop.

A 15-way 10-shot episode with 30 queries needs, for the fine key-value cache, one
transport problem per (query, support clip) pair: 30 x 150 = 4,500 problems between
sets of ``T`` segments (T = 21 for MS-CLAP 2022 on 5 s clips), and for the fine
cross-modal contrast one per (query, class): 30 x 15 problems between ``T`` segments
and 8 explanations. This script solves them

* one at a time with ``ot.sinkhorn`` (POT, numpy), as a plain loop would;
* all at once with ``skfewaudio.nn.ot.sinkhorn`` (batched log-domain, torch);
* all at once with POT's own batched ``ot.solve_batch`` (the fair anchor), on numpy
  arrays and on torch tensors (POT's torch backend), float64 and float32;

checks that the similarities ``sum T*_ij cos_ij`` agree, and reports the times.

    python benchmarks/ot_speed.py [--repeats 3] [--segments 21] [--dim 1024] [--threads 1]
    python benchmarks/ot_speed.py --features offline-backbone   # real-like cosines
"""

import argparse

import numpy as np
import torch

from _results import save_results, timings
from skfewaudio.nn.ot import cosine_matrix, sinkhorn


def _timed(fn, repeats):
    out, seconds = timings(fn, repeats)
    return out, float(np.median(seconds))


def _offline_backbone_features(args):
    from skfewaudio.clap import RandomAudioMiniLMBackbone, default_descriptions
    from skfewaudio.datasets import make_sounds

    per_class = args.shot + int(np.ceil(args.queries / args.way))
    X, y = make_sounds(n_classes=args.way, n_per_class=per_class, duration=5.0,
                       random_state=0)
    backbone = RandomAudioMiniLMBackbone(clip_seconds=5.0)
    support = np.arange(len(y)) % per_class < args.shot
    _, fine_support = backbone.embed_audio(list(X[support]))
    _, fine_query = backbone.embed_audio(list(X[~support][: args.queries]))
    sentences = default_descriptions(np.unique(y))
    texts = [s for label in sorted(sentences) for s in sentences[label][: args.explanations]]
    explanations = backbone.embed_text(texts).reshape(args.way, -1, fine_query.shape[-1])
    return fine_query.numpy(), fine_support.numpy(), explanations.numpy()


def main():
    import ot

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--way", type=int, default=15)
    parser.add_argument("--shot", type=int, default=10)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--segments", type=int, default=21)
    parser.add_argument("--explanations", type=int, default=8)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--features", choices=["gaussian", "offline-backbone"],
                        default="gaussian",
                        help="random vectors, or the segment and prompt embeddings of the "
                             "offline backbone on 5 s synthetic sounds (slower to converge)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 avoids spin-waiting on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n_support = args.way * args.shot
    if args.features == "gaussian":
        # Correlated random segment embeddings (cosines mostly positive).
        base = rng.normal(size=(1, 1, args.dim))
        queries = base + rng.normal(size=(args.queries, args.segments, args.dim))
        support = base + rng.normal(size=(n_support, args.segments, args.dim))
        explanations = base[0] + rng.normal(size=(args.way, args.explanations, args.dim))
    else:
        queries, support, explanations = _offline_backbone_features(args)
        args.segments, args.dim = queries.shape[1], queries.shape[2]

    problems = {
        "fine cache (query x support clip)": (queries, support),
        "fine contrast (query x class)": (queries, explanations),
    }
    rows = []
    for name, (left, right) in problems.items():
        xt = torch.tensor(left, dtype=torch.float64)[:, None]
        yt = torch.tensor(right, dtype=torch.float64)[None]
        cos = cosine_matrix(xt, yt)  # (n_left, n_right, T, m), computed once for all
        cos_np = cos.numpy()
        n_pairs = cos.shape[0] * cos.shape[1]
        n, m = cos.shape[-2:]
        a, b = np.full(n, 1 / n), np.full(m, 1 / m)

        def per_pair():
            out = np.empty(cos.shape[:2])
            for i in range(cos.shape[0]):
                for j in range(cos.shape[1]):
                    c = cos_np[i, j]
                    plan = ot.sinkhorn(a, b, 1 - c, args.reg, stopThr=args.tol,
                                       numItermax=1000)
                    out[i, j] = np.sum(plan * c)
            return out

        def batched(dtype):
            def run():
                c = cos.to(dtype)
                plan = sinkhorn(1 - c, reg=args.reg, tol=args.tol, max_iter=1000)
                return (plan * c).sum(dim=(-1, -2)).double().numpy()
            return run

        def pot_batch():
            cost = (1 - cos_np).reshape(-1, n, m)
            result = ot.solve_batch(cost, reg=args.reg, max_iter=1000, tol=args.tol,
                                    reg_type="entropy")
            plans = result.plan.reshape(cos_np.shape)
            return np.sum(plans * cos_np, axis=(-1, -2))

        def pot_batch_torch(dtype):
            def run():
                cost = (1 - cos.to(dtype)).reshape(-1, n, m)
                result = ot.solve_batch(cost, reg=args.reg, max_iter=1000, tol=args.tol,
                                        reg_type="entropy")
                plans = result.plan.reshape(cos.shape)
                return (plans * cos.to(dtype)).sum(dim=(-1, -2)).double().numpy()
            return run

        reference, t_loop = _timed(per_pair, max(1, args.repeats - 1))
        runs = [("POT ot.sinkhorn, per-pair loop", per_pair, t_loop, reference)]
        for label, fn in [("skfewaudio sinkhorn, batched, float64", batched(torch.float64)),
                          ("skfewaudio sinkhorn, batched, float32", batched(torch.float32)),
                          ("POT ot.solve_batch, batched, numpy float64", pot_batch),
                          ("POT ot.solve_batch, batched, torch float64",
                           pot_batch_torch(torch.float64)),
                          ("POT ot.solve_batch, batched, torch float32",
                           pot_batch_torch(torch.float32))]:
            try:
                out, seconds = _timed(fn, args.repeats)
            except Exception as exc:  # noqa: BLE001 - report, keep the other rows
                print(f"{label} failed: {exc!r}")
                continue
            runs.append((label, fn, seconds, out))
        for label, _, seconds, out in runs:
            rows.append({
                "problems": name, "pairs": n_pairs, "size": f"{n} x {m}", "solver": label,
                "seconds": seconds, "speed-up vs loop": t_loop / seconds,
                "max |sim - loop sim|": float(np.abs(out - reference).max()),
            })
    notes = (f"Features: {args.features}. "
             f"{args.way}-way {args.shot}-shot episode, {args.queries} queries, "
             f"{args.segments} segments per clip, {args.explanations} explanations per "
             f"class, d = {args.dim}, reg = {args.reg}, stop when the marginal error < "
             f"{args.tol} (max 1000 iterations). Cosine matrices are computed once and "
             "shared by all solvers; times are medians over repeats of the transport part "
             "plus the similarity sum. `max |sim - loop sim|` is the largest difference of "
             "the transport-weighted cosine from the per-pair POT result.")
    name = "ot_speed" if args.features == "gaussian" else "ot_speed_offline_backbone"
    save_results(name, rows, title="Batched optimal transport: skfewaudio vs POT's batched solver",
                 columns=["problems", "pairs", "size", "solver", "seconds",
                          "speed-up vs loop", "max |sim - loop sim|"], notes=notes)


if __name__ == "__main__":
    main()
