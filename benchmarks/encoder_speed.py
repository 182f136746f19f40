"""Encoder inference against the CPU's matrix-multiply rate, side by side in one run.

For each shipped encoder, at batch 64 of 5 s log-mel windows (128 x 157), the
forward pass in eval mode is timed in several forms, and its arithmetic rate is
``FLOPs / time`` with the FLOPs counted by ``torch.utils.flop_counter``:

* ``plain``: the module as trained (NCHW, float32);
* ``channels_last``: input and weights in NHWC, which oneDNN's convolutions prefer;
* ``folded``: batch norm folded into the preceding convolution, and a residual
  block's 1x1 shortcut merged into its single 3x3 convolution
  (:func:`skfewaudio.nn.inference_module`, what the estimators embed with), NHWC;
* ``bf16``: ``folded`` under CPU bfloat16 autocast (the CPU has AVX512-BF16);
* ``compiled``: ``folded`` through ``torch.compile`` (inductor), where it compiles.

The reference is a 2048^3 float32 matrix product on the same threads. A profile of
the committed model's encoder (``folded``) shows where its time goes, operator by
operator, with the arithmetic rate of its convolutions (``encoder_profile.md``), and
how far bfloat16 moves each encoder's embeddings (``encoder_bf16_error.md``).

Usage: python benchmarks/encoder_speed.py [--batch 64] [--repeats 5] [--no-compile] [--profile-only]
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from _results import save_results, timings
from skfewaudio.nn import CRNNEncoder, Conv4Encoder, inference_module
from skfewaudio.nn.resnet import resnet_encoder, small_encoder

N_MELS, N_FRAMES = 128, 157  # one 5 s window at 16 kHz, hop 512


def encoders():
    """The encoders the estimators ship, by what they are."""
    return {
        "conv-4, 32 maps, stride 2 (committed ProtoContrastive model)":
            Conv4Encoder(n_maps=32, in_stride=2, pool="flatten"),
        "conv-4, 64 maps (MetaAudio)": Conv4Encoder(n_maps=64),
        "CRNN, 64 maps (MetaAudio)": CRNNEncoder(n_maps=64, n_mels=N_MELS),
        "small ResNet (the committed model's three ResNets: ProtoContrastive "
        "encoder='resnet'; SupCon encoder='small')": small_encoder(),
        "ResNet (SupCon default, Moummad et al.)": resnet_encoder(),
    }


def best_seconds(fn, repeats):
    fn()  # warm-up: oneDNN picks its kernels on the first call
    return min(timings(fn, repeats)[1])


def gemm_gflops(repeats, n=2048, dtype=torch.float32):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / best_seconds(lambda: a @ b, repeats) / 1e9


def count_flops(module, batch):
    with FlopCounterMode(display=False) as counter:
        module(batch)
    return counter.get_total_flops()


def variants(module, use_compile):
    plain = module.eval()
    channels_last = inference_module(module, fold_batch_norm=False)
    folded = inference_module(module)
    forms = {"plain": (plain, False), "channels_last": (channels_last, True),
             "folded": (folded, True)}
    forms["bf16"] = (folded, True, torch.bfloat16)
    if use_compile:
        forms["compiled"] = (torch.compile(folded), True)
    return forms


def encoder_rows(batch_size, repeats, use_compile):
    torch.manual_seed(0)
    batch = torch.randn(batch_size, 1, N_MELS, N_FRAMES)
    rows = []
    for name, module in encoders().items():
        flops = count_flops(module.eval(), batch)
        with torch.inference_mode():
            for form, (net, nhwc, *dtype) in variants(module, use_compile).items():
                x = batch.contiguous(memory_format=torch.channels_last) if nhwc else batch

                def forward():
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(dtype)):
                        return net(x)

                try:
                    start = time.perf_counter()
                    forward()  # first call: compiles where compiled
                    first = time.perf_counter() - start
                    seconds = best_seconds(forward, repeats)
                except Exception as error:  # a form this machine cannot run
                    rows.append({"encoder": name, "form": form, "note": repr(error)[:80]})
                    continue
                rows.append({"encoder": name, "form": form, "MFLOP/clip": flops / batch_size / 1e6,
                             "clips/s": batch_size / seconds, "GFLOP/s": flops / seconds / 1e9,
                             "first call s": first})
    return rows


def profile_rows(batch_size, repeats):
    """Operator times of the committed encoder (folded), with their FLOP shares."""
    from torch.profiler import ProfilerActivity, profile

    module = inference_module(next(iter(encoders().values())))
    x = torch.randn(batch_size, 1, N_MELS, N_FRAMES).contiguous(
        memory_format=torch.channels_last)
    with torch.inference_mode():
        module(x)
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            for _ in range(repeats):
                module(x)
    # aten::conv2d carries the FLOPs, its oneDNN child the time: group them by kind.
    kinds = {"convolution": ("conv",), "max-pool": ("max_pool",),
             "ReLU": ("relu", "clamp_min")}
    seconds, flops = {}, {}
    for event in prof.key_averages():
        kind = next((k for k, keys in kinds.items() if any(s in event.key for s in keys)),
                    "other (copies, reshapes, allocation)")
        seconds[kind] = seconds.get(kind, 0.0) + event.self_cpu_time_total / 1e6
        flops[kind] = flops.get(kind, 0) + event.flops
    total = sum(seconds.values())
    return [{"operator": kind, "% of time": 100 * seconds[kind] / total,
             "GFLOP/s": flops[kind] / seconds[kind] / 1e9 if flops[kind] else None}
            for kind in sorted(seconds, key=lambda k: -seconds[k])]


def bf16_error_rows(batch_size):
    """How far bfloat16 autocast moves each encoder's embeddings from float32."""
    torch.manual_seed(0)
    x = torch.randn(batch_size, 1, N_MELS, N_FRAMES).contiguous(
        memory_format=torch.channels_last)
    rows = []
    with torch.inference_mode():
        for name, module in encoders().items():
            folded = inference_module(module)
            exact = folded(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                rounded = folded(x).float()
            relative = (rounded - exact).norm(dim=1) / exact.norm(dim=1)
            rows.append({"encoder": name, "max relative error %": 100 * float(relative.max()),
                         "min cosine": float(torch.cosine_similarity(exact, rounded).min())})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--profile-only", action="store_true",
                        help="only the profile of the committed encoder and the bf16 error")
    args = parser.parse_args()
    gemm = gemm_gflops(args.repeats)
    if not args.profile_only:
        save_encoder_table(args, gemm)
    save_results("encoder_profile", profile_rows(args.batch, args.repeats),
                 title="Where the committed encoder's inference time goes (folded, float32)",
                 columns=["operator", "% of time", "GFLOP/s"],
                 notes=f"torch.profiler, self CPU time, batch {args.batch}, {args.repeats} "
                       f"forward passes; 2048^3 float32 GEMM on the same threads: {gemm:.0f} "
                       "GFLOP/s. Pooling, ReLU and copies do no arithmetic: they only move "
                       "memory.")
    save_results("encoder_bf16_error", bf16_error_rows(args.batch),
                 title="Embeddings under bfloat16 autocast vs float32 (folded encoders)",
                 columns=["encoder", "max relative error %", "min cosine"],
                 notes=f"Randomly initialised encoders, {args.batch} random 1 x {N_MELS} x "
                       f"{N_FRAMES} inputs; relative error is ||bf16 - fp32|| / ||fp32|| per "
                       "embedding.")


def save_encoder_table(args, gemm):
    gemm_bf16 = gemm_gflops(args.repeats, dtype=torch.bfloat16)
    rows = encoder_rows(args.batch, args.repeats, not args.no_compile)
    for row in rows:
        if "GFLOP/s" in row:
            row["% of GEMM"] = 100 * row["GFLOP/s"] / gemm
    save_results("encoder_speed", rows, title="Encoder inference vs the CPU's GEMM rate",
                 columns=["encoder", "form", "MFLOP/clip", "clips/s", "GFLOP/s", "% of GEMM",
                          "first call s", "note"],
                 notes=f"2048^3 float32 GEMM: {gemm:.0f} GFLOP/s on the same threads "
                       f"(bfloat16: {gemm_bf16:.0f}); % of GEMM is of the float32 rate. "
                       f"Batch {args.batch} of 1 x {N_MELS} x {N_FRAMES} log-mel windows, "
                       f"eval mode, inference_mode, best of {args.repeats}; FLOPs from "
                       "torch.utils.flop_counter (a multiply-add counts 2), of the module "
                       "as trained: a form that computes the same function with less "
                       "arithmetic (folded batch norms; the small ResNet's 1x1 shortcuts "
                       "merged into its 3x3 convolutions, about a tenth of its FLOPs) "
                       "shows as a higher rate.")


if __name__ == "__main__":
    main()
