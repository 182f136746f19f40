import os
import urllib.request
import warnings
import zipfile

import numpy as np
import pytest
import soundfile as sf

from skfewaudio import fetch_esc50, load_audio_folder, make_sounds
from skfewaudio.datasets._synthetic import KINDS


def test_make_sounds_is_seeded_and_shaped():
    X, y = make_sounds(n_classes=7, n_per_class=3, duration=0.25, sample_rate=8000,
                       random_state=1)
    X2, _ = make_sounds(n_classes=7, n_per_class=3, duration=0.25, sample_rate=8000,
                        random_state=1)
    assert X.shape == (21, 2000) and X.dtype == np.float32
    np.testing.assert_array_equal(X, X2)
    assert set(label.rsplit("_", 1)[0] for label in y) == set(KINDS)
    assert np.abs(X).max() <= 0.9 + 1e-6 and np.isfinite(X).all()


def test_make_sounds_varies_within_class_and_differs_between_classes():
    X, y = make_sounds(n_classes=6, n_per_class=4, duration=0.5, random_state=0)
    assert not np.allclose(X[0], X[1])  # within-class variation
    X0, _ = make_sounds(n_classes=6, n_per_class=4, duration=0.5, variation=0,
                        snr_db=(200, 200), random_state=0)
    spectra = np.abs(np.fft.rfft(X0, axis=1))
    same = np.corrcoef(spectra[0], spectra[1])[0, 1]
    other = np.corrcoef(spectra[0], spectra[4])[0, 1]
    assert same > 0.9 > other


def _write(path, samples, rate):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("frog", "pump"):
        for i in range(3):
            _write(tmp_path / label / f"{i}.wav", 0.1 * rng.standard_normal(1600), 16000)
    _write(tmp_path / "frog" / "stereo.flac", 0.1 * rng.standard_normal((1600, 2)), 16000)
    _write(tmp_path / "pump" / "fast.wav", 0.1 * rng.standard_normal(4410), 44100)
    (tmp_path / "pump" / "notes.txt").write_text("not audio")
    return tmp_path


def test_load_class_folders_downmixes_and_resamples_with_a_warning(folder):
    with pytest.warns(UserWarning, match="1 file down-mixed to mono; 1 file resampled"):
        data = load_audio_folder(folder, sample_rate=16000)
    assert len(data.data) == 8 and sorted(data.target_names) == ["frog", "pump"]
    lengths = dict(zip(data.filenames, map(len, data.data)))
    assert lengths["pump/fast.wav"] == 1600 and lengths["frog/stereo.flac"] == 1600
    assert all(clip.ndim == 1 and clip.dtype == np.float32 for clip in data.data)


def test_a_class_folder_without_audio_is_named_in_a_warning(folder):
    (folder / "toad" / "notes").mkdir(parents=True)
    (folder / ".cache").mkdir()  # hidden: no class
    with pytest.warns(UserWarning, match=r"1 class folder without audio files left out: "
                                         r"toad\.$"):
        data = load_audio_folder(folder)
    assert sorted(data.target_names) == ["frog", "pump"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_audio_folder(folder, classes=["frog"])  # toad was not asked for
    assert not [w for w in caught if "class folder" in str(w.message)]


def test_files_in_folders_below_a_class_folder_belong_to_that_class(folder):
    _write(folder / "frog" / "site1" / "night" / "call.wav", np.zeros(1600), 16000)
    (folder / "frog" / "site2.wav").mkdir()  # a folder with an audio name is no file
    with pytest.warns(UserWarning):
        data = load_audio_folder(folder)
    assert len(data.data) == 9
    assert dict(zip(data.filenames, data.target))["frog/site1/night/call.wav"] == "frog"


def test_linked_class_folders_a_link_loop_and_mac_metadata(folder, tmp_path_factory):
    picked = tmp_path_factory.mktemp("picked")
    (picked / "frog").symlink_to(folder / "frog", target_is_directory=True)
    (folder / "frog" / "again").symlink_to(folder / "frog", target_is_directory=True)
    (folder / "frog" / "._0.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata
    with pytest.warns(UserWarning):
        data = load_audio_folder(picked)
    assert sorted(data.filenames) == ["frog/0.wav", "frog/1.wav", "frog/2.wav",
                                      "frog/stereo.flac"]


def test_opus_is_read_and_formats_not_read_here_are_counted_in_a_warning(folder):
    tone = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32)
    sf.write(folder / "frog" / "call.opus", 0.3 * tone, 16000, format="OGG", subtype="OPUS")
    for name in ("a.m4a", "b.M4A", "c.wma"):
        (folder / "pump" / name).write_bytes(b"")
    with pytest.warns(UserWarning, match=r"3 files left out, in formats not read here "
                                         r"\(2 \.m4a, 1 \.wma\); convert them to WAV"):
        data = load_audio_folder(folder)
    assert "frog/call.opus" in data.filenames and len(data.data) == 9


def test_every_unreadable_file_is_named(folder):
    (folder / "frog" / "broken.wav").write_bytes(b"RIFF garbage")
    (folder / "pump" / "empty.flac").write_bytes(b"")
    damaged = np.zeros(1600, np.float32)
    damaged[800] = np.nan  # a float file can hold NaN, which no estimator accepts
    sf.write(folder / "pump" / "nan.wav", damaged, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"3 files .* could not be read") as info:
        load_audio_folder(folder)
    assert "broken.wav" in str(info.value) and "empty.flac" in str(info.value)
    assert "nan.wav: the file holds NaN at sample 800 (0.05 s)" in str(info.value)
    with pytest.warns(UserWarning, match="They were skipped"):
        data = load_audio_folder(folder, on_error="warn")
    assert len(data.data) == 8


def test_metadata_csv_and_class_filter(folder):
    (folder / "metadata.csv").write_text("filename,category\nfrog/0.wav,a\npump/1.wav,b\n")
    X, y = load_audio_folder(folder, return_X_y=True)
    assert list(y) == ["a", "b"]
    with pytest.raises(ValueError, match=r"classes \['c'\] have no files"):
        load_audio_folder(folder, classes=["a", "c"])


def _esc50_archive(tmp_path):
    root = tmp_path / "src" / "ESC-50-master"
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i, (category, fold) in enumerate([("dog", 1), ("rain", 2), ("dog", 3)]):
        name = f"{fold}-{i}-A-{i}.wav"
        _write(root / "audio" / name, np.zeros(4410), 44100)
        rows.append(f"{name},{fold},{i},{category},False,{i},A")
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    archive = tmp_path / "esc50.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in root.rglob("*"):
            zipped.write(file, file.relative_to(root.parent))
    return archive


def test_fetch_esc50_downloads_once_then_uses_the_cache(tmp_path):
    archive = _esc50_archive(tmp_path)
    home = tmp_path / "home"
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_esc50(home, download_if_missing=False)
    with pytest.warns(UserWarning, match="resampled to 16000"):
        data = fetch_esc50(home, url=archive.as_uri())
    assert list(data.target) == ["dog", "rain", "dog"] and data.fold == [1, 2, 3]
    assert all(len(clip) == 1600 for clip in data.data)
    archive.unlink()  # the cache must serve the second call
    with pytest.warns(UserWarning):
        X, y = fetch_esc50(home, url=archive.as_uri(), return_X_y=True)
    assert len(X) == 3


def test_fetch_esc50_verifies_the_checksum(tmp_path):
    archive = _esc50_archive(tmp_path)
    with pytest.raises(OSError, match="checksum mismatch"):
        fetch_esc50(tmp_path / "home", url=archive.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "home" / "ESC-50-master").exists()


def _online():
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        urllib.request.urlopen("https://github.com", timeout=3)
        return True
    except OSError:
        return False


@pytest.mark.network
@pytest.mark.skipif(not _online(), reason="needs internet access")
def test_fetch_esc50_from_the_internet(tmp_path):
    data = fetch_esc50(tmp_path)
    assert len(data.data) == 2000 and len(data.target_names) == 50
