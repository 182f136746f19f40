"""Read a labelled folder of recordings: one sub-folder per class, or a metadata.csv."""

import csv
import os
import warnings
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from .._validation import check_finite_samples
from ..features import resample

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".au"}
# Audio that soundfile does not decode: said, not silently left out.
UNDECODED_SUFFIXES = {".m4a", ".aac", ".wma", ".mp4", ".webm", ".amr", ".3gp"}


def load_audio_folder(path, *, sample_rate=16000, classes=None, metadata="metadata.csv",
                      on_error="raise", return_X_y=False, progress=False):
    """Load labelled mono clips from a folder.

    Two layouts are read:

    * a ``metadata.csv`` (name set by ``metadata``) with columns ``filename`` and
      ``label`` (``category`` is accepted too, as in ESC-50); file names are relative
      to ``path``;
    * otherwise one sub-folder per class, holding that class's audio files
      (``.wav``, ``.flac``, ``.ogg``, ``.opus``, ``.mp3``, ``.aiff``, ``.au``), in it or in
      folders below it (``frog/site1/call.wav`` is a ``frog``).

    Multichannel files are averaged to mono and files at another rate are resampled
    to ``sample_rate`` (soxr); each is reported once in a warning that counts them.
    Files that cannot be read are collected, not fatal one by one: with
    ``on_error="raise"`` (default) one error lists every bad file after all were
    tried; with ``"warn"`` they are skipped with one warning listing them.

    Parameters
    ----------
    path : str or Path
    sample_rate : int, default=16000
        Rate of the returned clips, in Hz.
    classes : sequence of str or None, default=None
        Load only these classes (e.g. the train classes of a split).
    metadata : str, default="metadata.csv"
    on_error : {"raise", "warn"}, default="raise"
    return_X_y : bool, default=False
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    data : Bunch
        ``data`` (list of 1-D float32 arrays), ``target`` (ndarray of str),
        ``filenames`` (ndarray of str), ``target_names``, ``sample_rate``.
        ``(data, target)`` if ``return_X_y``.
    """
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder.")
    entries = _list_entries(root, metadata)
    if classes is not None:
        missing = sorted(set(classes) - {label for _, label in entries})
        if missing:
            raise ValueError(f"classes {missing} have no files in {root}.")
        entries = [(f, label) for f, label in entries if label in set(classes)]
    if not entries:
        raise ValueError(f"no audio files found in {root} (looked for {metadata} and "
                         f"class sub-folders with {sorted(AUDIO_SUFFIXES)}).")
    if classes is None and not (root / metadata).is_file():
        _warn_empty_class_folders(root, entries)

    return read_labelled_files(entries, root, sample_rate=sample_rate, on_error=on_error,
                               return_X_y=return_X_y, progress=progress)


def read_labelled_files(entries, root, *, sample_rate, on_error="raise", return_X_y=False,
                        progress=False):
    """Read ``(file, label)`` pairs into a Bunch (see :func:`load_audio_folder`)."""
    clips, labels, names, failures = [], [], [], []
    converted = {"down-mixed to mono": 0, f"resampled to {sample_rate} Hz": 0}
    for file, label in tqdm(entries, disable=not progress, desc="reading", unit="file"):
        try:
            clip = _read(file, sample_rate, converted)
        except Exception as exc:  # any decoder failure: report it, read the rest
            failures.append(f"{file}: {exc}")
            continue
        clips.append(clip)
        labels.append(label)
        names.append(str(file.relative_to(root)))
    _report(converted, failures, on_error, root)
    bunch = Bunch(data=clips, target=np.asarray(labels), filenames=np.asarray(names),
                  target_names=np.unique(labels), sample_rate=sample_rate)
    return (bunch.data, bunch.target) if return_X_y else bunch


def _list_entries(root, metadata):
    table = root / metadata
    if table.is_file():
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            return []
        label_key = next((k for k in ("label", "category") if k in rows[0]), None)
        if "filename" not in rows[0] or label_key is None:
            raise ValueError(
                f"{table} needs columns 'filename' and 'label' (or 'category'); "
                f"it has {list(rows[0])}."
            )
        return [(root / row["filename"], row[label_key]) for row in rows]
    # A file's class is the folder below root it sits in, at any depth.
    return [(file, file.relative_to(root).parts[0]) for file in audio_files_below(root)
            if len(file.relative_to(root).parts) > 1]


def _warn_empty_class_folders(root, entries):
    empty = sorted({p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
                   - {label for _, label in entries})
    if empty:
        warnings.warn(f"{root}: {counted(len(empty), 'class folder')} without audio files "
                      f"left out: {', '.join(empty)}.", UserWarning, stacklevel=3)


def audio_files_below(folder, skip=None):
    """The audio files in ``folder`` and below, sorted (none under a folder named
    ``skip``); one warning counts the files in formats that are not read here."""
    files = sorted(_files_below(Path(folder), skip))
    undecoded = Counter(p.suffix.lower() for p in files
                        if p.suffix.lower() in UNDECODED_SUFFIXES)
    if undecoded:
        warnings.warn(
            f"{folder}: {counted(sum(undecoded.values()), 'file')} left out, in formats not "
            "read here (" + ", ".join(f"{n} {s}" for s, n in sorted(undecoded.items()))
            + "); convert them to WAV or FLAC, e.g. ffmpeg -i clip.m4a clip.wav.",
            UserWarning, stacklevel=3)
    return [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]


def _files_below(folder, skip):
    """Every file in ``folder`` and below, through linked folders too (a folder of
    links to class folders is a common way to pick classes), each folder once."""
    seen = set()
    for directory, subdirectories, names in os.walk(folder, followlinks=True):
        stat = os.stat(directory)
        if (stat.st_dev, stat.st_ino) in seen:  # a link back up: a loop
            subdirectories.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subdirectories[:] = [d for d in subdirectories if d != skip]
        for name in names:
            path = Path(directory) / name
            # "._x.wav": the metadata macOS writes beside a file on foreign disks.
            if path.is_file() and not name.startswith("._"):
                yield path


def _read(file, sample_rate, converted):
    if file.suffix.lower() == ".mp3":  # libsndfile builds differ on mp3; librosa falls back
        samples, rate = librosa.load(file, sr=None, mono=False)
        samples = samples.T
    else:
        samples, rate = sf.read(file, dtype="float32", always_2d=True)
    if samples.ndim == 2:
        if samples.shape[1] > 1:
            converted["down-mixed to mono"] += 1
        samples = samples.mean(axis=1)
    if samples.size == 0:
        raise ValueError("the file holds no samples")
    check_finite_samples(samples, rate)
    if rate != sample_rate:
        converted[f"resampled to {sample_rate} Hz"] += 1
        samples = resample([samples], rate, sample_rate)[0]
    return np.ascontiguousarray(samples, dtype=np.float32)


def _report(converted, failures, on_error, root):
    done = [f"{counted(count, 'file')} {what}" for what, count in converted.items() if count]
    if done:
        warnings.warn(f"{root}: " + "; ".join(done) + ".", UserWarning, stacklevel=3)
    report_unreadable(failures, f"in {root}", on_error, stacklevel=4)


def report_unreadable(failures, where, on_error, *, note="", stacklevel=2):
    """One error (``on_error="raise"``) or one warning listing every file not read.

    ``failures`` are ``"file: problem"`` lines; ``where`` completes "N files ... could
    not be read"; ``note`` says what became of the others.
    """
    if not failures:
        return
    message = (f"{counted(len(failures), 'file')} {where} could not be read:\n  "
               + "\n  ".join(failures) + (f"\n{note}" if note else ""))
    if on_error == "raise":
        raise ValueError(message + "\nFix or remove them, or skip them with on_error='warn' "
                         "(on the command line: --skip-bad-files).")
    warnings.warn(message + "\nThey were skipped.", UserWarning, stacklevel=stacklevel)


def counted(count, noun):
    """``"1 file"``, ``"3 files"``: a count and its noun, plural unless one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
