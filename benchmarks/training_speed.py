"""Training throughput of each network estimator next to the CPU's GEMM rate, in one run.

What an epoch costs, measured the way users train: each estimator is fitted on
synthetic 5 s clips (16 kHz, 128 mels, one window per clip) for a few epochs, and
its throughput is the clips one epoch trains on divided by the epoch's wall time
from skorch's history (the median of the epochs after the first, which includes
oneDNN's warm-up). An epoch is forward, backward and optimiser step over every
view of every clip; the log-mel windows are computed once before the epochs.

* ProtoContrastiveClassifier: an epoch is ``episodes_per_epoch`` episodes of
  ``n_way * (n_shot + n_query)`` clips, each seen in ``n_views`` augmented views.
* SupConPretrainer: an epoch is every training clip, in two views.
* FineTuneClassifier: an epoch is every support clip, one view.

The multi-grained CLAP adapter trains on frozen backbone embeddings; its episode
cost is in clap_episode_speed.py.

The layout the network trains in is measured too: one conv-4 training step with
NCHW and with NHWC weights, side by side (``training_layout.md``).

Usage: python benchmarks/training_speed.py [--epochs 3] [--layout-only]
"""

import argparse

import numpy as np
import torch

from _results import save_results, timings
from encoder_speed import gemm_gflops
from skfewaudio import make_sounds
from skfewaudio.nn import Conv4Encoder
from skfewaudio.protocontrastive import ProtoContrastiveClassifier
from skfewaudio.supcon import FineTuneClassifier, SupConPretrainer


def estimators(epochs):
    """(name, estimator, clips per epoch, views per clip) of each configuration."""
    episodic = dict(n_way=5, n_shot=5, n_query=5, episodes_per_epoch=4, max_epochs=epochs,
                    random_state=0)
    supcon = dict(max_epochs=epochs, batch_size=64, random_state=0)
    return [
        ("ProtoContrastiveClassifier(n_maps=64, in_stride=1): MetaAudio's conv-4",
         ProtoContrastiveClassifier(n_maps=64, in_stride=1, **episodic), 4 * 5 * 10, 2),
        ("ProtoContrastiveClassifier() defaults: 32 maps, first stride 2",
         ProtoContrastiveClassifier(**episodic), 4 * 5 * 10, 2),
        ("ProtoContrastiveClassifier(encoder='resnet'): the committed model's three ResNets",
         ProtoContrastiveClassifier(encoder="resnet", **episodic), 4 * 5 * 10, 2),
        ("SupConPretrainer(encoder='small')",
         SupConPretrainer(encoder="small", **supcon), None, 2),
        ("SupConPretrainer() default: ResNet (Moummad et al.)",
         SupConPretrainer(**supcon), None, 2),
    ]


def layout_rows(steps=3):
    """Forward + backward + Adam step of conv-4 with NCHW and with NHWC weights."""
    rows = []
    for n_maps, stride in ((32, 2), (64, 1)):
        rates = {}
        for layout in (torch.contiguous_format, torch.channels_last):
            torch.manual_seed(0)
            encoder = Conv4Encoder(n_maps=n_maps, in_stride=stride).to(memory_format=layout)
            optimizer = torch.optim.Adam(encoder.parameters())
            views = torch.randn(100, 1, 128, 157).contiguous(memory_format=torch.channels_last)

            def step():
                optimizer.zero_grad()
                encoder(views).square().mean().backward()
                optimizer.step()

            step()  # warm-up
            rates[layout] = len(views) / min(timings(step, steps)[1])
        rows.append({"encoder": f"conv-4, {n_maps} maps, stride {stride}",
                     "NCHW weights views/s": rates[torch.contiguous_format],
                     "NHWC weights views/s": rates[torch.channels_last],
                     "speed-up": rates[torch.channels_last] / rates[torch.contiguous_format]})
    return rows


def epoch_seconds(estimator):
    durations = estimator.net_.history[:, "dur"]
    return float(np.median(durations[1:] if len(durations) > 1 else durations))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--clips", type=int, default=128,
                        help="training clips of the SupCon pre-trainer")
    parser.add_argument("--layout-only", action="store_true",
                        help="only the NCHW vs NHWC weights comparison")
    args = parser.parse_args()
    save_results("training_layout", layout_rows(), title="Training step: NCHW vs NHWC weights",
                 columns=["encoder", "NCHW weights views/s", "NHWC weights views/s",
                          "speed-up"],
                 notes="Forward + backward + Adam step on batches of 100 random 5 s log-mel "
                       "windows, best of 3, side by side; the estimators train with NHWC.")
    if args.layout_only:
        return
    gemm = gemm_gflops(3)
    # At least n_shot + n_query = 10 clips per class for the episodes.
    X, y = make_sounds(n_classes=8, n_per_class=max(10, args.clips // 8), duration=5.0,
                       random_state=0)
    rows = []
    small_pretrained = None
    for name, estimator, clips, views in estimators(args.epochs):
        estimator.fit(X, y)
        clips = clips or len(X)
        seconds = epoch_seconds(estimator)
        rows.append({"estimator": name, "clips per epoch": clips, "views": views,
                     "epoch s": seconds, "clips/s": clips / seconds,
                     "views/s": clips * views / seconds})
        if isinstance(estimator, SupConPretrainer) and estimator.encoder == "small":
            small_pretrained = estimator
    tuner = FineTuneClassifier(small_pretrained, n_blocks=1, max_epochs=args.epochs,
                               random_state=0).fit(X[:40], y[:40])
    seconds = epoch_seconds(tuner)
    rows.append({"estimator": "FineTuneClassifier(small encoder, n_blocks=1)",
                 "clips per epoch": 40, "views": 1, "epoch s": seconds, "clips/s": 40 / seconds,
                 "views/s": 40 / seconds})
    save_results("training_speed", rows, title="Training throughput of the network estimators",
                 columns=["estimator", "clips per epoch", "views", "epoch s", "clips/s",
                          "views/s"],
                 notes=f"2048^3 float32 GEMM in the same run: {gemm:.0f} GFLOP/s "
                       f"({torch.get_num_threads()} threads). Synthetic 5 s clips at 16 kHz; "
                       f"{args.epochs} epochs, median epoch time after the first. A view's "
                       "forward cost is in encoder_speed.md (MFLOP/clip); forward + backward "
                       "is about three times that.")


if __name__ == "__main__":
    main()
