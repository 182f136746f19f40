"""Download-and-cache fetcher for the ESC-50 environmental sound dataset."""

import csv
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from sklearn.utils import Bunch

from ._folder import read_labelled_files

ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
ESC50_FOLDER = "ESC-50-master"


def get_data_home(data_home=None):
    """Where datasets are cached: ``data_home``, ``$SKFEWAUDIO_DATA``, or
    ``~/skfewaudio_data``; created if missing."""
    home = Path(data_home or os.environ.get("SKFEWAUDIO_DATA", "~/skfewaudio_data"))
    home = home.expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def fetch_esc50(data_home=None, *, sample_rate=16000, download_if_missing=True,
                url=ESC50_URL, sha256=None, return_X_y=False, progress=False):
    """Load ESC-50 (2,000 five-second clips, 50 classes), downloading it once.

    The archive (about 600 MB) is downloaded to ``data_home``, checked against
    ``sha256`` when one is given (the upstream archive of a moving branch has no
    fixed checksum, so none is assumed by default), unpacked, and reused on later
    calls. Clips are resampled from 44.1 kHz to ``sample_rate``.

    Parameters
    ----------
    data_home : str or Path or None
        Cache folder (see :func:`get_data_home`).
    sample_rate : int, default=16000
    download_if_missing : bool, default=True
        If False and the data is not cached, raise ``OSError`` instead of downloading.
    url : str
        Archive location (a ``file://`` URL works, e.g. for a local mirror).
    sha256 : str or None
        Expected checksum of the archive.
    return_X_y : bool, default=False
    progress : bool, default=False

    Returns
    -------
    data : Bunch
        As :func:`load_audio_folder`, plus ``fold`` (ndarray of int, the dataset's
        five cross-validation folds). ``(data, target)`` if ``return_X_y``.
    """
    root = get_data_home(data_home) / ESC50_FOLDER
    if not (root / "meta" / "esc50.csv").is_file():
        if not download_if_missing:
            raise OSError(f"ESC-50 is not in {root} and download_if_missing=False.")
        _download_and_unpack(url, root.parent, sha256)
    with open(root / "meta" / "esc50.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    entries = [(root / "audio" / row["filename"], row["category"]) for row in rows]
    bunch = read_labelled_files(entries, root, sample_rate=sample_rate, progress=progress)
    folds = {row["filename"]: int(row["fold"]) for row in rows}
    bunch.fold = [folds[Path(name).name] for name in bunch.filenames]
    return (bunch.data, bunch.target) if return_X_y else Bunch(**bunch)


def _download_and_unpack(url, destination, sha256):
    """Download to a temporary file, verify, then unpack: an interrupted download
    never leaves a half-written dataset behind."""
    with tempfile.TemporaryDirectory(dir=destination) as tmp:
        archive = Path(tmp) / "esc50.zip"
        with urllib.request.urlopen(url) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        if sha256 is not None:
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            if digest != sha256:
                raise OSError(f"checksum mismatch for {url}: got {digest}, expected {sha256}.")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(tmp)
        unpacked = Path(tmp) / ESC50_FOLDER
        if not (unpacked / "meta" / "esc50.csv").is_file():
            raise OSError(f"{url} does not contain {ESC50_FOLDER}/meta/esc50.csv.")
        unpacked.rename(destination / ESC50_FOLDER)
