"""The ``skfewaudio`` command line: ``demo``, ``evaluate``, ``classify``, ``search``, ``train``.

Every method is fitted on base classes (a no-op for the untrained baseline) and then
scored by episodes on novel classes, so the same code serves the demo, a folder of
the user's recordings and a saved model.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from . import __version__
from ._cli_models import load_model
from ._cli_train import add_command as add_train_command
from ._cli_workflow import (RATE_HELP, SKIP_HELP, on_error, positive, read_split,
                            short_clips_named)
from ._cli_workflow import add_commands as add_workflow_commands
from .datasets import load_audio_folder, make_sounds
from .episodes import evaluate_episodes
from .linear_probe import LinearProbeClassifier
from .protocontrastive import ProtoContrastiveClassifier
from .prototype import PrototypeClassifier
from .supcon import SupConPretrainer


def _prototype(sample_rate, random_state, demo):
    return PrototypeClassifier(metric="cosine", sample_rate=sample_rate)


def _probe(sample_rate, random_state, demo):
    return LinearProbeClassifier(sample_rate=sample_rate)


def _protocontrastive(sample_rate, random_state, demo):
    if demo:  # small network and front-end for 1 s synthetic clips, about 15 s of CPU
        return ProtoContrastiveClassifier(
            n_maps=32, in_stride=1, n_mels=64, n_fft=512, hop_length=256,
            window_seconds=1.0, metric="cosine", n_way=10, n_shot=2, n_query=2,
            episodes_per_epoch=25, max_epochs=8, lr=2e-3, n_views=1, freq_mask_param=8,
            time_mask_param=8, contrastive="angular",
            sample_rate=sample_rate, random_state=random_state, verbose=1)
    return ProtoContrastiveClassifier(metric="cosine", sample_rate=sample_rate,
                                      random_state=random_state, verbose=1)


def _supcon(sample_rate, random_state, demo):
    return SupConPretrainer(encoder="small", sample_rate=sample_rate,
                            random_state=random_state, verbose=1)


class Method(NamedTuple):
    factory: Callable  # (sample_rate, random_state, demo) -> unfitted estimator
    learns: bool  # fitted on training classes before the episodes
    description: str
    in_demo: bool


METHODS = {
    "prototype": Method(_prototype, False,
                        "nearest prototype on spectral statistics (no learning)", True),
    "probe": Method(_probe, False,
                    "linear probe (logistic regression) on spectral statistics (no learning)",
                    True),
    "protocontrastive": Method(_protocontrastive, True,
                               "prototypical network meta-trained with a contrastive term", True),
    "supcon": Method(_supcon, True, "supervised contrastive pre-training, prototype head",
                     False),
}


def _method_names():
    return sorted(METHODS)


def main(argv=None):
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        with _plain_warnings():
            return args.run(args)
    except (ValueError, TypeError, OSError, KeyError, ImportError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"skfewaudio: error: {message}", file=sys.stderr)
        return 2


@contextmanager
def _plain_warnings():
    """Show warnings as ``skfewaudio: warning: ...``, like the errors: the file and
    source line inside the library that Python adds say nothing to a user."""
    original = warnings.formatwarning
    warnings.formatwarning = lambda message, *args, **kwargs: f"skfewaudio: warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = original


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="skfewaudio", description="Few-shot audio classification with scikit-learn."
    )
    parser.add_argument("--version", action="version", version=f"skfewaudio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="few-shot demo on built-in synthetic sounds")
    demo.add_argument("--episodes", type=positive(int), default=2000,
                      help="episodes per setting")
    demo.add_argument("--methods", nargs="+", default=None, choices=_method_names(),
                      help="methods to compare (default: prototype, probe, protocontrastive)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and the models")
    demo.set_defaults(run=_run_demo)

    evaluate = commands.add_parser(
        "evaluate", help="episodic few-shot accuracy on a folder of recordings")
    evaluate.add_argument("directory", type=Path,
                          help="one sub-folder of audio files per class, or a metadata.csv")
    evaluate.add_argument("--method", default="prototype", choices=_method_names(),
                          help="the few-shot method (default: prototype)")
    evaluate.add_argument("--model", type=Path, default=None,
                          help="a fitted estimator saved with skfewaudio.save (or, trusted "
                               "files only, joblib); replaces --method")
    evaluate.add_argument("--encoder", default=None, metavar="MODEL",
                          help="a pretrained audio model (Hugging Face hub id or folder) "
                               "under a cosine prototype classifier (replaces --method)")
    evaluate.add_argument("--cache", type=Path, default=None,
                          help="on-disk embedding cache folder for --encoder")
    evaluate.add_argument("--n-way", type=positive(int), default=5,
                          help="classes per episode (default: 5)")
    evaluate.add_argument("--n-shot", type=positive(int), nargs="+", default=[1, 5],
                          help="labelled clips per class, one or more settings (default: 1 5)")
    evaluate.add_argument("--n-query", type=positive(int), default=1,
                          help="clips to label per class and episode (default: 1)")
    evaluate.add_argument("--episodes", type=positive(int), default=1000,
                          help="episodes per setting (default: 1000)")
    evaluate.add_argument("--split-file", type=Path, default=None,
                          help="JSON with lists of class names, "
                               "e.g. {'train': [...], 'val': [...]}")
    evaluate.add_argument("--eval-split", default="val",
                          help="key of the split file holding the evaluation classes")
    evaluate.add_argument("--train-split", default="train",
                          help="key of the split file holding the training classes")
    evaluate.add_argument("--sample-rate", type=positive(int), default=16000, help=RATE_HELP)
    evaluate.add_argument("--skip-bad-files", action="store_true", help=SKIP_HELP)
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the episodes")
    evaluate.add_argument("--output", type=Path, default=Path("skfewaudio-results.json"),
                          help="results as JSON (default: skfewaudio-results.json)")
    evaluate.set_defaults(run=_run_evaluate)
    add_workflow_commands(commands)  # classify, search
    add_train_command(commands)
    return parser


def _score_table(estimator, X, y, shots, args, label):
    rows = []
    for n_shot in shots:
        result = evaluate_episodes(
            estimator, X, y, n_way=args.n_way, n_shot=n_shot, n_query=args.n_query,
            n_episodes=args.episodes, random_state=args.seed, progress=True,
        )
        rows.append({
            "method": label, "n_way": args.n_way, "n_shot": n_shot, "n_query": args.n_query,
            "n_episodes": args.episodes, "accuracy": result["accuracy"],
            "ci95": result["ci95"], "seconds": result["seconds"],
        })
    return rows


def _print_table(rows):
    print(f"\n{'method':<22}{'way':>5}{'shot':>6}{'accuracy':>12}{'95% CI':>10}")
    for row in rows:
        print(f"{row['method']:<22}{row['n_way']:>5}{row['n_shot']:>6}"
              f"{100 * row['accuracy']:>11.2f}%{100 * row['ci95']:>9.2f}")


def _run_demo(args):
    # Several CPU threads sum floats in a varying order, which training amplifies; one
    # thread makes the printed table identical on every run (docs/api.md).
    torch.set_num_threads(1)
    started = time.perf_counter()
    sample_rate = 16000
    # Low SNR and wide within-class variation, so that learning has something to learn.
    X, y = make_sounds(n_classes=30, n_per_class=20, duration=1.0, sample_rate=sample_rate,
                       snr_db=(-5, 5), variation=2.0, random_state=args.seed)
    base_classes = np.unique(y)[:20]
    is_base = np.isin(y, base_classes)
    print(f"synthetic sounds: {is_base.sum()} clips of {len(base_classes)} base classes "
          f"for training, {(~is_base).sum()} clips of 10 novel classes for evaluation")
    args.n_way, args.n_query = 5, 1
    rows = []
    names = args.methods or [name for name, method in METHODS.items() if method.in_demo]
    for name in names:
        print(f"\n{name}: {METHODS[name].description}")
        estimator = METHODS[name].factory(sample_rate, args.seed, True)
        estimator.fit(X[is_base], y[is_base])
        rows += _score_table(estimator, X[~is_base], y[~is_base], [1, 5], args, name)
    _print_table(rows)
    print(f"\n5-way episodes on novel classes, 1 query per class, {args.episodes} episodes; "
          f"total {time.perf_counter() - started:.0f} s")
    return 0


def _run_evaluate(args):
    eval_classes = read_split(args.split_file, args.eval_split) if args.split_file else None
    data = load_audio_folder(args.directory, sample_rate=args.sample_rate,
                             classes=eval_classes, on_error=on_error(args), progress=True)
    if args.model is not None and args.encoder is not None:
        raise ValueError("give --model or --encoder, not both.")
    if args.model is not None:
        estimator, label = load_model(args.model), args.model.name
    elif args.encoder is not None:
        from .pretrained import PretrainedEncoder

        encoder = PretrainedEncoder(args.encoder, sample_rate=args.sample_rate,
                                    cache=args.cache).fit(data.data[:1])  # fails early
        estimator, label = PrototypeClassifier(encoder=encoder, metric="cosine"), args.encoder
    else:
        method = METHODS[args.method]
        estimator, label = method.factory(args.sample_rate, args.seed, False), args.method
        if method.learns:
            if args.split_file is None:
                raise ValueError(f"method {args.method!r} learns from training classes: "
                                 "give --split-file with a train list.")
            train = load_audio_folder(
                args.directory, sample_rate=args.sample_rate, on_error=on_error(args),
                classes=read_split(args.split_file, args.train_split), progress=True)
            with short_clips_named(train):
                estimator.fit(train.data, train.target)
    with short_clips_named(data):
        rows = _score_table(estimator, data.data, data.target, args.n_shot, args, label)
    _print_table(rows)
    report = {
        "results": rows, "directory": str(args.directory),
        "classes": data.target_names.tolist(), "n_clips": len(data.data),
        "seed": args.seed, "skfewaudio": __version__, "python": platform.python_version(),
        "machine": platform.machine(), "processor": platform.processor(),
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
