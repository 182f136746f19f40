"""Fit + predict time of MultiGrainedCLAPAdapter for one episode on CPU (offline backbone).

One 15-way 10-shot episode (150 support clips) with 30 queries of 5 s synthetic
sounds at 16 kHz, the paper's training schedule (20 epochs, Adam 1e-4) and all four
components on. The backbone is the offline ``RandomAudioMiniLMBackbone`` with 5 s
clips (random audio CNN + MiniLM text encoder): its audio side is much smaller than
CNN14, so this measures the adapter (embedding once, caches, OT, training) rather
than a real CLAP forward pass.

    python benchmarks/clap_episode_speed.py [--repeats 3] [--threads 1]
"""

import argparse
import time

import numpy as np
import torch

from _results import save_results
from skfewaudio.clap import MultiGrainedCLAPAdapter, RandomAudioMiniLMBackbone
from skfewaudio.datasets import make_sounds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--way", type=int, default=15)
    parser.add_argument("--shot", type=int, default=10)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    per_class = args.shot + int(np.ceil(args.queries / args.way))
    X, y = make_sounds(n_classes=args.way, n_per_class=per_class, duration=args.seconds,
                       random_state=0)
    position = np.arange(len(y)) % per_class
    support = position < args.shot
    Xs, ys = X[support], y[support]
    Xq, yq = X[~support][: args.queries], y[~support][: args.queries]
    backbone = RandomAudioMiniLMBackbone(clip_seconds=args.seconds)

    rows = []

    def measure(label, fn, repeats):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        rows.append({"step": label, "seconds (median)": float(np.median(times)),
                     "seconds (min)": float(np.min(times)), "runs": repeats})
        print(rows[-1])

    def new_clf(**params):
        params.setdefault("max_epochs", args.epochs)
        return MultiGrainedCLAPAdapter(backbone, random_state=0, **params)

    measure("first fit (loads MiniLM, embeds prompts)", lambda: new_clf().fit(Xs, ys), 1)
    measure("fit, caches only (no training)", lambda: new_clf(
        coarse_contrast=False, fine_contrast=False).fit(Xs, ys), 1)
    measure("backbone: embed 150 support clips", lambda: backbone.embed_audio(list(Xs)),
            args.repeats)
    measure(f"fit ({args.epochs} epochs, all components)", lambda: new_clf().fit(Xs, ys),
            args.repeats)
    measure("fit without training (max_epochs=0)",
            lambda: new_clf(max_epochs=0).fit(Xs, ys), args.repeats)
    clf = new_clf().fit(Xs, ys)
    measure(f"predict {len(Xq)} queries", lambda: clf.predict(Xq), args.repeats)
    measure(f"fit + predict {len(Xq)} queries, no fine cache",
            lambda: new_clf(fine_cache=False).fit(Xs, ys).predict(Xq), 1)
    accuracy = float(np.mean(clf.predict(Xq) == yq))
    notes = (f"{args.way}-way {args.shot}-shot, {len(Xq)} queries of {args.seconds:g} s at "
             f"16 kHz (make_sounds), {args.epochs} epochs, batch 32, Adam 1e-4, "
             "ot_max_iter 100, torch threads as below. Offline backbone: random audio CNN "
             "(NOT pretrained; 31 segments per 5 s clip, d = 384) + MiniLM text, default "
             "8 prompt templates per class. Query accuracy of this random-audio model on "
             f"the synthetic sounds: {accuracy:.3f} (not a quality measure). Training scores "
             "the parameter-free caches of the support set once (150 x 150 transport "
             "problems for the fine cache) before the epochs.")
    save_results("clap_episode_speed", rows, title="MultiGrainedCLAPAdapter: one episode on CPU",
                 columns=["step", "seconds (median)", "seconds (min)", "runs"], notes=notes)


if __name__ == "__main__":
    main()
