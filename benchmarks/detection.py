"""Few-shot event detection on the ESC-50 soundscapes: event F-measure and speed.

For each recording made by ``make_soundscapes.py`` (run it first), a
FewShotEventDetector is fitted on the first 5 annotated events and predicts the
events after them; predictions are scored with the DCASE Task 5 metric
(``event_f_measure``: IoU > 0.3, counts pooled per subset = target class, harmonic
mean over subsets). Three systems:

* front-end only: MelStatistics (64 log-mel means and standard deviations) +
  linear probe;
* SupCon + linear probe: a SupConPretrainer ("small" CPU encoder) pre-trained on
  the ESC-50 *train* classes (the soundscape targets are validation classes it
  never saw), frozen, + linear probe;
* SupCon + fine-tuning: the same encoder with its last block fine-tuned with a
  linear layer on each recording's shots (Moummad et al.'s system 2, via
  FineTuneClassifier).

Speed is seconds of audio per second of wall time, for scoring alone (predict) and
for the whole per-recording job (fit + predict), on this machine's CPU.

With ``--hour``, instead: an hour of 22.05 kHz audio (the soundscapes resampled
and repeated, written block by block to a git-ignored WAV) is scored from its path
with the front-end detector, reporting speed and the peak memory of the process
before and after scoring, against the size of the whole waveform and spectrogram.

Usage: python benchmarks/detection.py [--data DIR] [--pretrain-epochs 15] [--hour]
The pre-trained encoder is cached in benchmarks/data/ (git-ignored); --retrain
ignores the cache.
"""

import argparse
import json
import resource
import time
from pathlib import Path

import joblib
import numpy as np
import soundfile as sf
import torch

from _results import DEFAULT_ESC50, save_results
from make_soundscapes import OUT, SR, active_parts, load_class
from skfewaudio.detection import (
    FewShotEventDetector,
    event_f_measure,
    read_events_csv,
    write_events_csv,
)

CACHE = Path(__file__).resolve().parent / "data"


def pretrain(data, epochs, retrain):
    """SupConPretrainer on the non-silent parts of the ESC-50 train classes (cached)."""
    from skfewaudio.supcon import SupConPretrainer

    path = CACHE / f"supcon_small_{epochs}ep.joblib"
    if path.exists() and not retrain:
        return joblib.load(path), json.loads(path.with_suffix(".json").read_text())
    classes = json.load(open(Path(data) / "splits.json"))["train"]
    X, y = [], []
    for name in classes:
        for clip in load_class(data, name):
            for part in active_parts(clip):
                X.append(part)
                y.append(name)
    pre = SupConPretrainer(encoder="small", sample_rate=SR, n_mels=64, n_fft=512,
                           hop_length=128, window_seconds=0.5, max_epochs=epochs,
                           batch_size=128, random_state=0, verbose=1)
    began = time.perf_counter()
    pre.fit(X, np.asarray(y))
    info = {"pretrain_seconds": time.perf_counter() - began, "n_clips": len(X),
            "classes": len(classes), "epochs": epochs}
    CACHE.mkdir(exist_ok=True)
    joblib.dump(pre, path)
    path.with_suffix(".json").write_text(json.dumps(info))
    return pre, info


def run_system(name, make_detector, files, references, folder):
    predictions, timing = {}, {"audio": 0.0, "fit": 0.0, "predict": 0.0}
    for file in files:
        x, rate = sf.read(folder / file, dtype="float32")
        assert rate == SR
        detector = make_detector()
        began = time.perf_counter()
        detector.fit(x, references[file])
        fitted = time.perf_counter()
        predictions[file] = detector.predict(x)
        done = time.perf_counter()
        timing["audio"] += len(x) / SR
        timing["fit"] += fitted - began
        timing["predict"] += done - fitted
        print(f"  {name} | {file}: {len(predictions[file])} events, window "
              f"{detector.window_samples_ / SR:.3f} s, fit {fitted - began:.1f} s, "
              f"predict {done - fitted:.1f} s", flush=True)
    write_events_csv(CACHE / f"predictions_{name.split()[0].lower()}.csv", predictions)
    return predictions, timing


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hour_check(folder, chunk_seconds=60.0):
    """Score one hour of 22.05 kHz audio from a file: speed and peak memory."""
    import librosa

    rate, hours = 22050, 1.0
    path = CACHE / "hour_22050.wav"
    files = sorted(p for p in folder.glob("*.wav"))
    first = folder / files[0].name
    shots = read_events_csv(first.with_suffix(".csv"))[first.name][:5]
    if not path.exists():
        with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
            written, k = 0, 0
            while written < hours * 3600 * rate:
                x, _ = sf.read(files[k % len(files)], dtype="float32")
                block = librosa.resample(x, orig_sr=SR, target_sr=rate)
                block = block[: int(hours * 3600 * rate) - written]
                out.write(block)
                written += len(block)
                k += 1
    n = sf.info(str(path)).frames
    detector = FewShotEventDetector(sample_rate=rate, chunk_seconds=chunk_seconds,
                                    random_state=0, verbose=1).fit(path, shots)
    before = peak_rss_mb()
    began = time.perf_counter()
    events = detector.predict(path)
    seconds = time.perf_counter() - began
    after = peak_rss_mb()
    spectrogram_mb = n / 128 * 64 * 4 / 2**20  # 64 mels, hop 128, float32
    rows = [{"audio": f"{n / rate / 3600:.2f} h at {rate} Hz", "chunk s": chunk_seconds,
             "window s": detector.window_samples_ / rate, "events": len(events),
             "predict s": seconds, "audio-s/s": n / rate / seconds,
             "peak RSS before predict MB": before, "peak RSS after predict MB": after,
             "whole waveform float32 MB": n * 4 / 2**20,
             "whole spectrogram MB": spectrogram_mb}]
    save_results("detection_hour", rows, columns=list(rows[0]),
                 title="Scoring one hour of 22.05 kHz audio from a file, in chunks",
                 notes="Front-end detector (MelStatistics + linear probe) fitted on the "
                       "first 5 events of the first soundscape; the recording is read from "
                       "the WAV file chunk by chunk. Peak RSS is the process's maximum "
                       "resident memory (includes torch); the growth during predict is "
                       "what scoring the hour cost.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--soundscapes", default=OUT, type=Path)
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--systems", default="frontend,linear,finetune")
    parser.add_argument("--negatives", type=int, default=300,
                        help="max_negative_windows of every system")
    parser.add_argument("--finetune-epochs", type=int, default=20,
                        help="Moummad et al. use 40; 20 keeps the CPU run short")
    parser.add_argument("--hour", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.hour:
        return hour_check(args.soundscapes)
    metadata = json.loads((args.soundscapes / "metadata.json").read_text())
    files = sorted(metadata["files"])
    references = {}
    for file in files:
        references.update(read_events_csv(args.soundscapes / file.replace(".wav", ".csv")))
    subsets = {f: metadata["files"][f]["subset"] for f in files}

    common = {"sample_rate": SR, "max_negative_windows": args.negatives, "random_state": 0}
    systems = {"frontend": ("front-end only (MelStatistics) + linear probe",
                            lambda: FewShotEventDetector(**common))}
    wanted = args.systems.split(",")
    pre_info = None
    if {"linear", "finetune"} & set(wanted):
        pre, pre_info = pretrain(args.data, args.pretrain_epochs, args.retrain)
        systems["linear"] = ("SupCon small + linear probe",
                             lambda: FewShotEventDetector(pre, **common))
        systems["finetune"] = ("SupCon small + fine-tune last block",
                               lambda: FewShotEventDetector(
                                   pre, head="finetune", finetune_blocks=1,
                                   max_epochs=args.finetune_epochs, **common))
    rows, per_file = [], {}
    for key in wanted:
        label, make = systems[key]
        predictions, timing = run_system(label, make, files, references, args.soundscapes)
        scores = event_f_measure(references, predictions, subsets=subsets)
        per_file[label] = scores["per_file"]
        rows.append({"system": label, "F %": 100 * scores["f_measure"],
                     "precision %": 100 * scores["precision"],
                     "recall %": 100 * scores["recall"],
                     **{f"F {s} %": 100 * v["f_measure"]
                        for s, v in sorted(scores["per_subset"].items())},
                     "predict audio-s/s": timing["audio"] / timing["predict"],
                     "fit+predict audio-s/s":
                         timing["audio"] / (timing["fit"] + timing["predict"])})
    file_rows = [{"file": f, **{label: round(100 * per_file[label][f]["f_measure"], 1)
                                for label in per_file}} for f in files]
    subset_cols = [c for c in rows[0] if c.startswith("F ") and c != "F %"]
    notes = [
        f"{len(files)} soundscapes of {metadata['files'][files[0]]['n_events']} target events "
        f"(make_soundscapes.py, seed {metadata['seed']}, event SNR "
        f"{metadata['snr_db_range'][0]:g}-{metadata['snr_db_range'][1]:g} dB), 5 shots each; "
        "DCASE metric: IoU > 0.3, counts pooled per target class, harmonic mean over classes.",
        f"All systems: at most {args.negatives} negative windows per recording, seed 0; "
        f"fine-tuning: last block + linear layer, Adam lr 0.001, {args.finetune_epochs} "
        "epochs, random time crops 90-100 %, positives repeated to balance the classes.",
        "Speed: seconds of audio per second of wall time on CPU (2 torch threads; shared "
        "machine, see load average).",
        "\n## F-measure per file (%)\n",
        "| file | " + " | ".join(per_file) + " |",
        "|---|" + "---|" * len(per_file),
        *["| " + r["file"] + " | " + " | ".join(f"{r[label]:.1f}" for label in per_file) + " |"
          for r in file_rows],
    ]
    if pre_info:
        notes.insert(1, f"SupConPretrainer: encoder 'small', 64 mels, n_fft 512, hop 128, "
                        f"0.5 s windows, {pre_info['epochs']} epochs on {pre_info['n_clips']} "
                        f"non-silent parts of the {pre_info['classes']} ESC-50 train classes "
                        f"({pre_info['pretrain_seconds']:.0f} s, cached).")
    save_results("detection", rows,
                 columns=["system", "F %", "precision %", "recall %", *subset_cols,
                          "predict audio-s/s", "fit+predict audio-s/s"],
                 title="Few-shot event detection on ESC-50 soundscapes (DCASE Task 5 metric)",
                 notes="\n".join(notes))


if __name__ == "__main__":
    main()
