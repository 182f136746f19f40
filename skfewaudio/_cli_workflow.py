"""The ``classify`` and ``search`` commands: a user's own recordings, few labels.

``classify SUPPORT_DIR QUERY_DIR`` fits a PrototypeClassifier on one sub-folder of
clips per class and labels every audio file of QUERY_DIR (open-set by default);
``search EXAMPLES_DIR CORPUS_DIR`` embeds the corpus once into an EmbeddingStore
and lists the windows most like the examples.
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from ._cli_models import load_encoder, save_model
from ._prototypes import softmax_neg
from ._validation import ShortClipsWarning, each_warning_once, padding_outweighs
from .datasets._folder import (AUDIO_SUFFIXES, audio_files_below, counted, load_audio_folder,
                               read_labelled_files)
from .prototype import PrototypeClassifier

DEFAULT_INDEX = ".skfewaudio-index"  # inside CORPUS_DIR unless --index is given
SKIP_HELP = "skip unreadable files (listed in one warning) instead of stopping"
RATE_HELP = "sample rate in Hz that every file is resampled to (default: 16000)"
MODEL_HELP = ("a fitted encoder, or a fitted few-shot classifier whose encoder is used, saved "
              "with skfewaudio.save (or, trusted files only, joblib); default: "
              "SpectralStatistics, no learning")


def add_commands(commands):
    """Register ``classify`` and ``search`` on the ``skfewaudio`` sub-command parser."""
    classify = commands.add_parser(
        "classify", help="label audio files from a few examples per class (open set)")
    classify.add_argument("support", type=Path,
                          help="one sub-folder of example clips per class (or a metadata.csv)")
    classify.add_argument("queries", type=Path, help="folder of audio files to label")
    classify.add_argument("--output", type=Path, default=Path("predictions.csv"),
                          help="predictions as CSV (default: predictions.csv)")
    classify.add_argument("--plots", type=Path, default=None,
                          help="write review plots (PNG) to this folder")
    classify.add_argument("--rejection", default="auto",
                          help="'auto' (threshold from the support set), 'none', or a "
                               "distance threshold")
    classify.add_argument("--false-rejection-rate", type=rate, default=0.05,
                          help="with --rejection auto: share of known clips to reject")
    classify.add_argument("--unknown-label", default="unknown",
                          help="label of rejected clips (default: unknown)")
    classify.add_argument("--metric", default="cosine", choices=["cosine", "euclidean"],
                          help="distance to the class prototypes (default: cosine)")
    classify.add_argument("--model", type=Path, default=None, help=MODEL_HELP)
    classify.add_argument("--save", type=Path, default=None,
                          help="save the fitted classifier: skfewaudio.save's format (loads "
                               "without running code), or joblib for a .joblib or .pkl name")
    classify.add_argument("--sample-rate", type=positive(int), default=16000, help=RATE_HELP)
    classify.add_argument("--skip-bad-files", action="store_true", help=SKIP_HELP)
    classify.set_defaults(run=run_classify)

    search = commands.add_parser(
        "search", help="find the windows of long recordings most like a few examples")
    search.add_argument("examples", type=Path, help="folder of example clips")
    search.add_argument("corpus", type=Path, help="folder of recordings (searched recursively)")
    search.add_argument("--index", type=Path, default=None,
                        help=f"embedding store folder (default: CORPUS/{DEFAULT_INDEX}); "
                             "made on first use, extended with new files later")
    search.add_argument("--top", type=positive(int), default=20,
                        help="matches to list (default: 20)")
    search.add_argument("--output", type=Path, default=None, help="also write the matches as CSV")
    search.add_argument("--window", type=positive(float), default=1.0,
                        help="window length, seconds")
    search.add_argument("--hop", type=positive(float), default=None,
                        help="window step, seconds (default: half a window)")
    search.add_argument("--ann", action="store_true",
                        help="approximate search with a FAISS HNSW index (large corpora)")
    search.add_argument("--model", type=Path, default=None, help=MODEL_HELP)
    search.add_argument("--n-jobs", type=int, default=None,
                        help="recordings embedded in parallel")
    search.add_argument("--sample-rate", type=positive(int), default=16000, help=RATE_HELP)
    search.add_argument("--skip-bad-files", action="store_true", help=SKIP_HELP)
    search.set_defaults(run=run_search)


def positive(kind):
    """An argparse type: a number of ``kind`` above 0, refused before any audio is read."""
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value"
    return parse


def rate(text):
    """An argparse type: a fraction in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def on_error(args):
    """``on_error`` of the readers: skip (with a warning) or stop at unreadable files."""
    return "warn" if args.skip_bad_files else "raise"


def short_clips_said(say):
    """:func:`each_warning_once` with each :class:`ShortClipsWarning` of the library
    (clips far shorter than a window, counted by position in the batch, which means
    nothing to a user) said as the text ``say(warning)`` (None: not at all)."""
    return each_warning_once(
        lambda message: say(message) if isinstance(message, ShortClipsWarning) else message)


def short_clips_named(files, hint="use longer clips, or a model of shorter windows"):
    """:func:`short_clips_said` naming the files of ``files`` (a Bunch of the command's
    clips, which went in whole or in episodes) too short for the window; ``files=None``
    drops the warnings, as said already."""
    def say(warning):
        if files is None:
            return None
        short = [str(name) for name, clip in zip(files.filenames, files.data)
                 if padding_outweighs(len(clip), warning.n_samples)]
        if not short:
            return str(warning)  # not about these clips: as the library said it
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        return (f"{counted(len(short), 'file')} shorter than half of {warning.window}, "
                f"zero-padded to it, so the padding outweighs the sound: "
                f"{', '.join(short[:5])}{more}; {hint}.")
    return short_clips_said(say)


def read_split(path, key):
    """The list of class names under ``key`` in a JSON split file."""
    splits = json.loads(Path(path).read_text())
    if key not in splits or not isinstance(splits[key], list):
        raise ValueError(f"{path} has no list of classes under {key!r} "
                         f"(keys: {sorted(splits)}).")
    return splits[key]


def _rejection(text):
    if text.lower() == "none":
        return None
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--rejection must be 'auto', 'none' or a number, got {text!r}.") from None
    if value < 0:
        raise ValueError(f"--rejection must be a non-negative distance, got {value}.")
    return value


def _audio_files(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    files = audio_files_below(folder, skip=DEFAULT_INDEX)
    if not files:
        raise ValueError(f"no audio files found in {folder} ({sorted(AUDIO_SUFFIXES)}).")
    return files


def run_classify(args):
    rejection = _rejection(args.rejection)  # before reading any audio
    support = load_audio_folder(args.support, sample_rate=args.sample_rate,
                                on_error=on_error(args), progress=True)
    queries = read_labelled_files([(f, "") for f in _audio_files(args.queries)], args.queries,
                                  sample_rate=args.sample_rate, on_error=on_error(args),
                                  progress=True)
    clf = PrototypeClassifier(
        encoder=load_encoder(args.model), metric=args.metric, sample_rate=args.sample_rate,
        rejection=rejection, false_rejection_rate=args.false_rejection_rate,
        unknown_label=args.unknown_label,
    )
    with short_clips_named(support):
        clf.fit(support.data, support.target)
    with short_clips_named(queries):
        embedded = clf.transform(queries.data)  # once, for the labels, scores and plots
    distances = clf._embedding_distances(embedded)
    labels = clf._labels(distances)
    proba = softmax_neg(distances, clf.temperature)  # = clf.predict_proba
    nearest = clf.classes_[distances.argmin(axis=1)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "probability", "unknown", "nearest_class", "distance"])
        for row in zip(queries.filenames, labels, proba.max(axis=1),
                       ~np.isin(labels, clf.classes_), nearest, distances.min(axis=1)):
            writer.writerow([row[0], row[1], f"{row[2]:.4f}", int(row[3]), row[4],
                             f"{row[5]:.6g}"])
    with short_clips_named(None):  # the clips are embedded again: named above
        _print_summary(clf, support, labels)
        if args.plots is not None:
            from .plots import save_classification_plots

            for path in save_classification_plots(clf, support.data, support.target,
                                                  queries.data, args.plots):
                print(f"plot written to {path}")
    if args.save is not None:
        save_model(clf, args.save)
        print(f"classifier saved to {args.save}")
    print(f"predictions for {len(labels)} files written to {args.output}")
    return 0


def _print_summary(clf, support, labels):
    from .plots import leave_one_out_predictions

    embedded = clf.transform(support.data)
    predicted, own = leave_one_out_predictions(clf, embedded, support.target)
    counted = np.isfinite(own)
    if counted.any():
        print(f"leave-one-out on the support set: "
              f"{100 * np.mean(predicted[counted] == support.target[counted]):.0f}% of "
              f"{counted.sum()} clips right")
    if clf.threshold_ is not None:
        print(f"rejection threshold: {clf.metric} distance {clf.threshold_:.4g}")
    names, counts = np.unique(labels, return_counts=True)
    print("labels: " + ", ".join(f"{name} {count}" for name, count in zip(names, counts)))


def run_search(args):
    from .search import EmbeddingStore

    files = _audio_files(args.corpus)
    examples = read_labelled_files([(f, "") for f in _audio_files(args.examples)],
                                   args.examples, sample_rate=args.sample_rate,
                                   on_error=on_error(args))
    location = args.index or args.corpus / DEFAULT_INDEX
    encoder = load_encoder(args.model)
    if (location / "header.json").exists():
        store = EmbeddingStore.open(location, encoder=encoder)
        _check_settings(store, args)
    else:
        store = EmbeddingStore.create(location, encoder, sample_rate=args.sample_rate,
                                      window_seconds=args.window, hop_seconds=args.hop)
    window = store.header["window_seconds"]
    with short_clips_said(lambda warning: (  # the corpus's and the examples' windows
            f"windows of {window:g} s are shorter than half of {warning.window}, "
            "zero-padded to it, so the padding outweighs the sound; --window "
            f"{warning.n_samples / args.sample_rate:g} fits the model (with a new --index).")):
        added = store.add_recordings(files, n_jobs=args.n_jobs, on_error=on_error(args),
                                     progress=True)
        print(f"{store} ({counted(added, 'new recording')} embedded)")
        matches = store.search(examples.data, k=args.top,
                               index="hnsw" if args.ann else "exact")
    root = args.corpus.resolve()
    print(f"\n{'rank':>4}  {'score':>6}  {'start':>9}  {'end':>9}  file")
    for rank, match in enumerate(matches, 1):
        name = Path(match["file"])
        shown = name.relative_to(root) if name.is_relative_to(root) else name
        print(f"{rank:>4}  {match['score']:>6.3f}  {match['start']:>9.2f}  {match['end']:>9.2f}"
              f"  {shown}")
    if args.output is not None:
        with open(args.output, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file", "start", "end", "score"])
            writer.writeheader()
            writer.writerows(matches)
        print(f"\n{len(matches)} matches written to {args.output}")
    return 0


def _check_settings(store, args):
    hop = args.hop if args.hop is not None else args.window / 2
    have = (store.header["sample_rate"], store.header["window_seconds"],
            store.header["hop_seconds"])
    if have != (args.sample_rate, args.window, hop):
        raise ValueError(
            f"{store.path} holds windows of {have[1]} s every {have[2]} s at {have[0]} Hz, not "
            f"{args.window} s every {hop} s at {args.sample_rate} Hz; pass those settings, or "
            "another --index.")
