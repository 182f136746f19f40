"""The ``train`` command: the recommended few-shot model, trained on a user's base classes.

``train BASE_DIR --output FILE`` meta-trains the networks of
:func:`skfewaudio.protocontrastive.train_ensemble` on one sub-folder of clips per base
class and saves the few-shot model, which ``evaluate``, ``classify`` and ``search``
then take as ``--model FILE``.
"""

from pathlib import Path

import numpy as np

from ._cli_models import save_model
from ._cli_workflow import (RATE_HELP, SKIP_HELP, on_error, positive, read_split,
                            short_clips_named)
from .datasets import load_audio_folder
from .protocontrastive import NETWORKS, ProtoContrastiveClassifier, train_ensemble

LONGEST_WINDOW = ProtoContrastiveClassifier().window_seconds  # the recipe's, chosen on ESC-50


def add_command(commands):
    """Register ``train`` on the ``skfewaudio`` sub-command parser."""
    train = commands.add_parser(
        "train", help="train the recommended few-shot model on base classes (one folder each)")
    train.add_argument("directory", type=Path,
                       help="one sub-folder of audio files per base class, or a metadata.csv")
    train.add_argument("--output", type=Path, required=True,
                       help="model file to write (skfewaudio.save's format; joblib for a "
                            ".joblib or .pkl name)")
    train.add_argument("--networks", type=int, default=len(NETWORKS),
                       choices=range(1, len(NETWORKS) + 1),
                       help="how many of the recommended networks to train (default: all "
                            f"{len(NETWORKS)}); 1 trains the conv-4 only, in a quarter of "
                            "the time, 4 points lower at 1-shot on ESC-50")
    train.add_argument("--epochs", type=positive(int), default=None,
                       help="epochs of 20 episodes per network (default: 160)")
    train.add_argument("--window-seconds", type=positive(float), default=None,
                       help="length of the windows the networks see (default: the "
                            f"median length of the base clips, at most {LONGEST_WINDOW:g}); "
                            "shorter clips are zero-padded to it, longer ones cut into "
                            "windows")
    train.add_argument("--split-file", type=Path, default=None,
                       help="JSON with lists of class names; train on the --train-split "
                            "list only")
    train.add_argument("--train-split", default="train",
                       help="key of the split file holding the classes to train on")
    train.add_argument("--checkpoint-dir", type=Path, default=None,
                       help="write checkpoints there after every epoch; the same command "
                            "resumes an interrupted run")
    train.add_argument("--device", default="cpu", help="'cpu', 'cuda', 'cuda:N' or 'auto'")
    train.add_argument("--seed", type=int, default=0, help="seed of the networks and episodes")
    train.add_argument("--sample-rate", type=positive(int), default=16000, help=RATE_HELP)
    train.add_argument("--skip-bad-files", action="store_true", help=SKIP_HELP)
    train.set_defaults(run=run_train)


def run_train(args):
    classes = read_split(args.split_file, args.train_split) if args.split_file else None
    base = load_audio_folder(args.directory, sample_rate=args.sample_rate, classes=classes,
                             on_error=on_error(args), progress=True)
    print(f"{len(base.data)} clips of {len(base.target_names)} base classes")
    window = args.window_seconds or median_window(base.data, args.sample_rate)
    print(f"windows of {window:g} s" + ("" if args.window_seconds else
                                        " (the median clip length; --window-seconds sets it)"))
    epochs = {} if args.epochs is None else {"max_epochs": args.epochs}
    with short_clips_named(base, hint="lower --window-seconds or drop them"):
        model = train_ensemble(
            base.data, base.target, n_networks=args.networks, random_state=args.seed,
            checkpoint_dir=args.checkpoint_dir, verbose=1, device=args.device,
            sample_rate=args.sample_rate, window_seconds=window, **epochs)
    save_model(model, args.output)
    print(f"few-shot model written to {args.output}; use it with "
          f"`skfewaudio classify SUPPORT QUERIES --model {args.output}`")
    return 0


def median_window(clips, sample_rate):
    """The median clip length in seconds (to 0.1 s), at most ``LONGEST_WINDOW``: a
    window near the clips' length wastes nothing on padding, and longer clips are cut
    into windows of the length the recipe was chosen with."""
    median = float(np.median([len(clip) for clip in clips])) / sample_rate
    return min(LONGEST_WINDOW, max(0.1, round(median, 1)))
