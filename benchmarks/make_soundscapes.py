"""Build the real-sound few-shot detection set: ESC-50 calls over ESC-50 backgrounds.

DCASE Task 5 data is not reachable here, so this script makes long recordings the
way the task's are annotated: each holds one *target* sound (an ESC-50 validation
class, never seen by a pre-trainer fitted on the train classes) at known times over a
continuous *background* (rain, wind, sea waves, crickets), with a few unannotated
*distractor* sounds from other classes. Every target placement is one event; its
onset and offset are those of the non-silent part of the ESC-50 clip it came from
(found with ``librosa.effects.split``), so the annotations are exact.

Mixing: the background is a chain of background clips (silent stretches removed,
each scaled to the same RMS, 50 ms cross-fades); each event is scaled so that its
power is ``snr`` dB above the background power over the same span, the SNR drawn
uniformly in ``--snr`` per event. Events and distractors do not overlap and keep at
least ``--min-gap`` seconds apart. Everything is seeded: the same arguments give
the same files.

Why not scaper: scaper (PyPI) needs the SoX binary (absent here and an extra
system dependency for CI), expects its own foreground/background folder layout,
and writes JAMS annotations that we would convert anyway; placing clips at known
times with a given SNR takes a few lines of numpy.

Output (git-ignored): ``<out>/<name>.wav`` (16 kHz mono PCM 16-bit) and
``<out>/<name>.csv`` in the DCASE annotation format
``Audiofilename,Starttime,Endtime,Q`` (``Q`` = ``POS``), plus ``<out>/metadata.json``
(target, background, per-event SNR, seed and the subset of each file, i.e. its
target class, used to average as DCASE does).

Usage: python benchmarks/make_soundscapes.py [--data DIR] [--out DIR] [--seed 0]
"""

import argparse
import json
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from _results import DEFAULT_ESC50
from skfewaudio.detection import write_events_csv

SR = 16000
OUT = Path(__file__).resolve().parent / "data" / "soundscapes"
# (target class, background class): each validation target over two backgrounds.
PAIRS = [("coughing", "rain"), ("coughing", "wind"), ("hen", "sea_waves"),
         ("hen", "crickets"), ("clock_alarm", "rain"), ("clock_alarm", "sea_waves"),
         ("breathing", "wind"), ("breathing", "crickets")]
DISTRACTORS = ["door_wood_knock", "footsteps", "clapping", "keyboard_typing", "cat",
               "sheep", "car_horn", "laughing"]


def load_class(data, name):
    return [librosa.load(path, sr=SR)[0] for path in sorted((Path(data) / name).glob("*.flac"))]


def active_parts(clip, *, top_db=30, min_gap=0.2, min_len=0.15, max_len=3.0):
    """Non-silent stretches of a clip (seconds apart less than ``min_gap`` joined)."""
    intervals = librosa.effects.split(clip, top_db=top_db, frame_length=1024, hop_length=256)
    merged = []
    for a, b in intervals:
        if merged and a - merged[-1][1] < min_gap * SR:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [clip[a:min(b, a + int(max_len * SR))] for a, b in merged if b - a >= min_len * SR]


def background_track(clips, n, rng):
    """Chain shuffled background clips (silences removed, equal RMS) to n samples."""
    pieces = [p for c in clips for p in active_parts(c, top_db=50, min_gap=0.5,
                                                      min_len=1.0, max_len=5.0)]
    fade = int(0.05 * SR)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    out = np.zeros(0, dtype=np.float32)
    while len(out) < n:
        piece = pieces[rng.randint(len(pieces))]
        piece = piece / (np.sqrt(np.mean(piece ** 2)) + 1e-9)
        if len(out) >= fade:
            out[-fade:] = out[-fade:] * ramp[::-1] + piece[:fade] * ramp
            piece = piece[fade:]
        out = np.concatenate([out, piece])
    return out[:n]


def make_one(target_parts, distractor_parts, background, *, n_events, n_distractors,
             snr, min_gap, rng):
    n = len(background)
    events = [target_parts[i] for i in rng.choice(len(target_parts), n_events, replace=False)]
    others = [distractor_parts[i] for i in rng.choice(len(distractor_parts), n_distractors,
                                                     replace=False)]
    sounds = [(s, True) for s in events] + [(s, False) for s in others]
    order = rng.permutation(len(sounds))
    sounds = [sounds[i] for i in order]
    lengths = np.array([len(s) for s, _ in sounds]) / SR
    slack = n / SR - lengths.sum() - min_gap * (len(sounds) + 1)
    if slack < 0:
        raise ValueError("the sounds do not fit; lengthen --duration or lower --events")
    gaps = min_gap + rng.dirichlet(np.ones(len(sounds) + 1)) * slack
    onsets = np.cumsum(np.r_[gaps[0], (lengths + gaps[1:])[:-1]])
    x = background.copy()
    rows, snrs = [], []
    for (sound, is_target), onset in zip(sounds, onsets):
        a = int(round(onset * SR))
        span = background[a:a + len(sound)]
        level = rng.uniform(*snr)
        gain = np.sqrt(np.mean(span ** 2) * 10 ** (level / 10) / (np.mean(sound ** 2) + 1e-12))
        x[a:a + len(sound)] += gain * sound
        if is_target:
            rows.append((a / SR, (a + len(sound)) / SR))
            snrs.append(round(float(level), 2))
    x *= 0.9 / np.abs(x).max()
    return x, np.array(rows), snrs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_ESC50)
    parser.add_argument("--out", default=OUT, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per file")
    parser.add_argument("--events", type=int, default=20, help="target events per file")
    parser.add_argument("--distractors", type=int, default=8)
    parser.add_argument("--snr", type=float, nargs=2, default=(0.0, 12.0),
                        help="range of event SNRs in dB")
    parser.add_argument("--min-gap", type=float, default=1.0)
    args = parser.parse_args()
    rng = np.random.RandomState(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = {}

    def parts(name):
        if name not in cache:
            cache[name] = [p for clip in load_class(args.data, name) for p in active_parts(clip)]
        return cache[name]

    distractor_parts = [p for name in DISTRACTORS for p in parts(name)]
    metadata = {"seed": args.seed, "sample_rate": SR, "snr_db_range": list(args.snr),
                "files": {}}
    for index, (target, background) in enumerate(PAIRS):
        name = f"{index:02d}_{target}_{background}.wav"
        bg = background_track(load_class(args.data, background),
                              int(args.duration * SR), rng)
        x, events, snrs = make_one(parts(target), distractor_parts, bg,
                                   n_events=args.events, n_distractors=args.distractors,
                                   snr=args.snr, min_gap=args.min_gap, rng=rng)
        sf.write(args.out / name, x, SR, subtype="PCM_16")
        write_events_csv(args.out / name.replace(".wav", ".csv"), {name: events}, label="POS")
        lengths = events[:, 1] - events[:, 0]
        metadata["files"][name] = {"subset": target, "target": target,
                                   "background": background, "event_snr_db": snrs,
                                   "n_events": len(events)}
        print(f"{name}: {len(events)} events, {lengths.min():.2f}-{lengths.max():.2f} s "
              f"(mean {lengths.mean():.2f}), SNR {min(snrs):.1f}-{max(snrs):.1f} dB")
    (args.out / "metadata.json").write_text(json.dumps(metadata, indent=1))
    print(f"wrote {len(PAIRS)} recordings to {args.out}")


if __name__ == "__main__":
    main()
