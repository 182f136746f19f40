"""Embedding speed of PretrainedEncoder and MelStatistics on CPU, and the cache's speed-up.

Three measurements in one run, on 5 s synthetic clips at 16 kHz (``make_sounds``):

1. **Tiny models** (the test suite's random AST, wav2vec2, Whisper and CLAP with two
   small layers) beside ``MelStatistics``: clips per second with ``batch_size`` 1 and
   32. This is the cost of skfewaudio's own pipeline (resampling, windowing, the
   models' feature extractors) plus a negligible network.
2. **Published architectures with random weights**: AST base (as
   ``MIT/ast-finetuned-audioset-10-10-0.4593``), wav2vec2 base (the size of HuBERT
   base and WavLM base too), the encoder of Whisper base, and LAION CLAP's HTS-AT
   audio tower (as ``laion/clap-htsat-unfused``). A network's compute does not depend
   on its weights, so these are the real models' CPU costs: parameters, peak memory of
   a fresh process that loads the model and embeds, clips per second at batch 1 and 8.
3. **Embedding cache**: the same clips embedded twice by a new encoder with
   ``cache=...``: the first run embeds and writes, the second only reads.

Accuracy with real weights is NOT measured: the Hugging Face hub cannot be reached
from this machine, so no pretrained weights could be downloaded.

    python benchmarks/pretrained_speed.py [--clips 32] [--real-clips 8] [--threads 2]
"""

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _results import save_results, timings
from skfewaudio import MelStatistics, PretrainedEncoder, make_sounds
from skfewaudio.pretrained._testing import build_tiny_model

SECONDS = 5.0


def _clips(n):
    X, _ = make_sounds(n_classes=4, n_per_class=int(np.ceil(n / 4)), duration=SECONDS,
                       random_state=0)
    return X[:n]


def _throughput(encoder, X, repeats):
    encoder.fit(X[:1]).transform(X[:2])  # warm-up: loads the weights, imports librosa
    _, seconds = timings(lambda: encoder.transform(X), repeats)
    return len(X) / min(seconds)


def tiny_rows(args, root):
    X = _clips(args.clips)
    rows = []
    encoders = {"MelStatistics": lambda b: MelStatistics(batch_size=b)}
    for kind in ("ast", "wav2vec2", "whisper", "clap"):
        folder = str(build_tiny_model(kind, root / f"tiny-{kind}"))
        encoders[f"tiny {kind} (random)"] = lambda b, f=folder: PretrainedEncoder(
            f, batch_size=b)
    for name, make in encoders.items():
        row = {"encoder": name}
        for batch in (1, 32):
            row[f"clips/s, batch {batch}"] = _throughput(make(batch), X, args.repeats)
        rows.append(row)
        print(row)
    return rows


def _real_size_models():
    """name -> builder of (model, feature extractor, the parts the encoder runs)."""
    import transformers as tf

    def ast():
        model = tf.ASTModel(tf.ASTConfig())
        return model, tf.ASTFeatureExtractor(), [model]

    def wav2vec2():
        model = tf.Wav2Vec2Model(tf.Wav2Vec2Config())
        return model, tf.Wav2Vec2FeatureExtractor(), [model]

    def whisper():
        # Whisper base's encoder; a one-layer decoder keeps the saved file small.
        config = tf.WhisperConfig(d_model=512, encoder_layers=6, encoder_attention_heads=8,
                                  encoder_ffn_dim=2048, decoder_layers=1,
                                  decoder_attention_heads=8, decoder_ffn_dim=256,
                                  num_mel_bins=80)
        model = tf.WhisperModel(config)
        return model, tf.WhisperFeatureExtractor(feature_size=80), [model.encoder]

    def clap():
        model = tf.ClapModel(tf.ClapConfig())
        return (model, tf.ClapFeatureExtractor(truncation="rand_trunc"),
                [model.audio_model, model.audio_projection])

    return {"AST base": ast, "wav2vec2 / HuBERT / WavLM base": wav2vec2,
            "Whisper base, encoder": whisper, "LAION CLAP HTS-AT audio tower": clap}


def _measure_in_fresh_process(folder, clips, threads, queue):
    torch.set_num_threads(threads)
    row = {}
    if folder is not None:
        X = _clips(clips)
        start = time.perf_counter()
        PretrainedEncoder(folder).fit(X[:1]).transform(X[:1])
        row["first clip incl. loading (s)"] = time.perf_counter() - start
        for batch, n in ((1, max(2, clips // 2)), (8, clips)):
            _, seconds = timings(lambda: PretrainedEncoder(folder, batch_size=batch)
                                 .transform(X[:n]), 1)
            row[f"clips/s, batch {batch}"] = n / seconds[0]
    else:  # the baseline: imports only
        import transformers  # noqa: F401
    row["peak memory (MB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(row)


def _fresh_process(folder, clips, threads):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure_in_fresh_process,
                              args=(folder, clips, threads, queue))
    process.start()
    row = queue.get()
    process.join()
    return row


def real_size_rows(args, root):
    baseline = _fresh_process(None, 0, args.threads)["peak memory (MB)"]
    rows = [{"encoder": "(empty process: torch + transformers imported)",
             "peak memory (MB)": baseline}]
    folders = {}
    for name, build in _real_size_models().items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, extractor, used = build()
        folder = folders[name] = root / f"real-size-{len(folders)}"
        model.save_pretrained(folder)
        extractor.save_pretrained(folder)
        params = sum(p.numel() for part in used for p in part.parameters()) / 1e6
        del model, used
        row = {"encoder": name, "parameters used (M)": params,
               **_fresh_process(str(folder), args.real_clips, args.threads)}
        rows.append(row)
        print(row)
    return rows, folders


def cache_rows(args, folders, root):
    X = _clips(args.real_clips)
    rows = []
    for name, folder in folders.items():
        cache = root / f"cache-{folder.name}"
        PretrainedEncoder(str(folder)).transform(X[:1])  # weights loaded, not counted
        _, first = timings(lambda: PretrainedEncoder(str(folder), cache=cache).transform(X), 1)
        _, second = timings(lambda: PretrainedEncoder(str(folder), cache=cache).transform(X),
                            args.repeats)
        rows.append({"encoder": name, "clips": len(X), "first run (s)": first[0],
                     "second run (s)": min(second), "speed-up": first[0] / min(second)})
        print(rows[-1])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=32, help="clips for the tiny models")
    parser.add_argument("--real-clips", type=int, default=8,
                        help="clips for the published architectures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tiny = tiny_rows(args, root)
        real, folders = real_size_rows(args, root)
        cache = cache_rows(args, {"tiny ast (random)": root / "tiny-ast", **folders}, root)
    common = (f"5 s clips at 16 kHz, {args.threads} torch threads, CPU. Clips/s is the best "
              f"of {args.repeats} runs (tiny models) or one run (published sizes); the "
              "model's own window: AST 10.24 s, CLAP 10 s, Whisper 30 s, wav2vec2 any "
              "length (tiny models: 1-2 s windows, so a 5 s clip is several windows). "
              "**Random weights throughout: accuracy with real weights could not be "
              "measured, because the Hugging Face hub is unreachable from this machine.**")
    save_results("pretrained_speed_tiny", tiny,
                 columns=["encoder", "clips/s, batch 1", "clips/s, batch 32"],
                 title="Embedding throughput: tiny random transformers models vs MelStatistics",
                 notes=common)
    save_results("pretrained_speed_real_size", real,
                 columns=["encoder", "parameters used (M)", "peak memory (MB)",
                          "first clip incl. loading (s)", "clips/s, batch 1",
                          "clips/s, batch 8"],
                 title="CPU cost of the published architectures (random weights)",
                 notes=common + f" {args.real_clips} clips per model. Peak memory is the "
                 "peak resident size of a fresh process that loads the saved model "
                 "and embeds the clips (the first row: a process that only imports).")
    save_results("pretrained_speed_cache", cache,
                 columns=["encoder", "clips", "first run (s)", "second run (s)", "speed-up"],
                 title="Embedding cache: first run (embed + write) vs second run (read)",
                 notes=common + " The second run is a new encoder with the same cache "
                 "folder: it reads every clip's embedding and never calls the model.")


if __name__ == "__main__":
    main()
