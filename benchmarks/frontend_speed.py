"""Speed of the foundation, each as a ratio measured side by side in one run.

1. MelSpectrogram (batched framing + rfft + blocked mel product) against
   librosa.feature.melspectrogram on the same 5 s, 16 kHz clips, for batches of 1, 32
   and 256 clips. librosa is timed both clip by clip (the usual loop) and on the whole
   batch at once (it accepts (n, t)).
2. The networks' front-end (LogMelWindows: per-clip z-normalisation, 5 s windows,
   log-mel, global standardisation) against MelSpectrogram's log-mel on 256 clips.
3. evaluate_episodes: 10,000 5-way episodes embedding each clip once, against fitting
   a classifier per episode (timed on a subset of episodes, per-episode cost scaled),
   for PrototypeClassifier and LinearProbeClassifier; and the linear probe's batched
   solver against scikit-learn's LogisticRegression fitted episode by episode.

Usage: python benchmarks/frontend_speed.py [--repeats 3] [--episodes-only]
"""

import argparse
import time

import librosa
import numpy as np

from _results import save_results, timings
from sklearn.linear_model import LogisticRegression

from skfewaudio import (
    EpisodeSampler,
    LinearProbeClassifier,
    MelSpectrogram,
    PrototypeClassifier,
    SpectralStatistics,
    evaluate_episodes,
    make_sounds,
)
from skfewaudio._windows import LogMelWindows
from skfewaudio.linear_probe import probe_episode_accuracies


def best_time(fn, repeats):
    return min(timings(fn, repeats)[1])


def mel_rows(repeats):
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 32, 256):
        X = (0.1 * rng.standard_normal((batch, 80000))).astype(np.float32)
        mel = MelSpectrogram(log=False).fit(X)
        ours = best_time(lambda: mel.transform(X), repeats)
        loop = best_time(lambda: [librosa.feature.melspectrogram(
            y=x, sr=16000, n_fft=1024, hop_length=512, n_mels=128) for x in X], repeats)
        batched = best_time(lambda: librosa.feature.melspectrogram(
            y=X, sr=16000, n_fft=1024, hop_length=512, n_mels=128), repeats)
        rows.append({
            "benchmark": "mel spectrogram", "batch": batch,
            "skfewaudio clips/s": batch / ours, "librosa loop clips/s": batch / loop,
            "librosa batched clips/s": batch / batched,
            "speed-up vs loop": loop / ours, "speed-up vs batched": batched / ours,
        })
    return rows


def windows_rows(repeats, n_clips=256):
    X = (0.1 * np.random.default_rng(0).standard_normal((n_clips, 80000))).astype(np.float32)
    mel = MelSpectrogram().fit(X)
    plain = best_time(lambda: mel.transform(X), repeats)
    rows = []
    for compression in ("log", "pcen"):
        frontend = LogMelWindows(compression=compression)
        frontend.fit(X)
        ours = best_time(lambda: frontend.transform(X), repeats)
        rows.append({"front-end": f"LogMelWindows (networks), compression={compression!r}",
                     "clips/s": n_clips / ours, "vs MelSpectrogram": plain / ours})
    # librosa's PCEN of the mel magnitudes, clip by clip (what compression="pcen" computes).
    pcen = best_time(lambda: [librosa.pcen(librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=1.0) * 2.0**31,
        sr=16000, hop_length=512) for x in X[:32]], repeats) * n_clips / 32
    return rows + [{"front-end": "MelSpectrogram (log-mel)", "clips/s": n_clips / plain,
                    "vs MelSpectrogram": 1.0},
                   {"front-end": "librosa melspectrogram + pcen, clip by clip (32 clips)",
                    "clips/s": n_clips / pcen, "vs MelSpectrogram": plain / pcen}]


def episode_rows():
    X, y = make_sounds(n_classes=20, n_per_class=30, duration=5.0, random_state=0)
    rows = []
    for classifier in (PrototypeClassifier, LinearProbeClassifier):
        class RefitEveryEpisode(classifier):
            def _episode_embedder(self):
                return None

        for n_shot in (1, 5):
            cached = evaluate_episodes(classifier(), X, y, n_shot=n_shot,
                                       n_episodes=10_000, random_state=0)
            subset = 100
            refit = evaluate_episodes(RefitEveryEpisode(), X, y, n_shot=n_shot,
                                      n_episodes=subset, random_state=0)
            refit_10k = refit["seconds"] * 10_000 / subset
            rows.append({
                "benchmark": f"{classifier.__name__}(), 10,000 episodes 5-way {n_shot}-shot "
                             "(600 clips of 5 s)",
                "embed once s": cached["seconds"],
                "refit per episode s (scaled from 100)": refit_10k,
                "speed-up": refit_10k / cached["seconds"],
            })
    rows.append(probe_solver_row(X, y))
    return rows


def probe_solver_row(X, y, n_episodes=1000):
    """The batched probe solver against scikit-learn's LogisticRegression, one fit per
    episode, on the same embeddings: the solving alone, no embedding."""
    embeddings = SpectralStatistics().fit(X[:1]).transform(X).astype(np.float64)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    support, query = EpisodeSampler(5, 5, 1, n_episodes, random_state=0).sample(y)
    start = time.perf_counter()
    probe_episode_accuracies(embeddings, support, query, C=10.0)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    labels = np.repeat(np.arange(5), 5)
    for s in support:
        LogisticRegression(C=10.0).fit(embeddings[s.ravel()], labels)
    per_episode = time.perf_counter() - start
    return {"benchmark": f"linear-probe solver alone, {n_episodes} episodes 5-way 5-shot "
                         "(batched vs sklearn LogisticRegression per episode)",
            "embed once s": batched, "refit per episode s (scaled from 100)": per_episode,
            "speed-up": per_episode / batched}


def frontend_results(repeats):
    save_results("mel_speed", mel_rows(repeats), title="MelSpectrogram vs librosa",
                 columns=["batch", "skfewaudio clips/s", "librosa loop clips/s",
                          "librosa batched clips/s", "speed-up vs loop",
                          "speed-up vs batched"],
                 notes="5 s clips at 16 kHz, n_fft 1024, hop 512, 128 mels, mel power; "
                       "best of repeats; both on the same CPU threads.")
    save_results("windows_speed", windows_rows(repeats),
                 title="The networks' front-end vs MelSpectrogram",
                 columns=["front-end", "clips/s", "vs MelSpectrogram"],
                 notes="256 clips of 5 s at 16 kHz (one window each), 128 mels, n_fft 1024, "
                       "hop 512; LogMelWindows adds per-clip z-normalisation and global "
                       "standardisation to the log-mel or PCEN; librosa's PCEN is timed on "
                       "32 of the clips. Best of repeats, in the same run.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes-only", action="store_true",
                        help="only the evaluate_episodes benchmark (3.)")
    args = parser.parse_args()
    if not args.episodes_only:
        frontend_results(args.repeats)
    save_results("episodes_speed", episode_rows(), title="evaluate_episodes: embed once vs refit",
                 columns=["benchmark", "embed once s", "refit per episode s (scaled from 100)",
                          "speed-up"],
                 notes="Embed-once time includes embedding all 600 clips. The last row "
                       "times the solving alone on precomputed embeddings (its columns: "
                       "batched solver s, scikit-learn per episode s).")


if __name__ == "__main__":
    main()
