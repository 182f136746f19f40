"""`skfewaudio classify` and `skfewaudio search` on folders of a user's own audio."""

import csv

import joblib
import numpy as np
import pytest
import soundfile as sf

from sklearn.frozen import FrozenEstimator

from skfewaudio import (LinearProbeClassifier, SpectralStatistics, load, load_audio_folder,
                        make_sounds, save)
from skfewaudio._persistence import is_model_file
from skfewaudio.cli import main
from skfewaudio.detection import make_event_recording

SR = 16000


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Support: 4 classes x 4 clips; queries: 3 clips of each known class + 6 of another."""
    root = tmp_path_factory.mktemp("classify")
    X, y = make_sounds(n_classes=5, n_per_class=10, duration=0.5, random_state=2)
    classes = np.unique(y)
    for i, (clip, label) in enumerate(zip(X, y)):
        rank = np.sum(y[:i] == label)
        if label == classes[-1]:
            folder, name = root / "queries" / "field", f"other{rank}.wav"
            if rank >= 6:
                continue
        elif rank < 4:
            folder, name = root / "support" / label, f"{rank}.wav"
        elif rank < 7:
            folder, name = root / "queries", f"{label}-{rank}.wav"
        else:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, clip, SR)
    return root, classes


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_classify_writes_labels_with_unknowns(folders, tmp_path, capsys):
    root, classes = folders
    out = tmp_path / "predictions.csv"
    assert main(["classify", str(root / "support"), str(root / "queries"),
                 "--output", str(out), "--false-rejection-rate", "0.2"]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["file", "label", "probability", "unknown", "nearest_class",
                             "distance"]
    assert len(rows) == 4 * 3 + 6
    known = [r for r in rows if not r["file"].startswith("field")]
    assert np.mean([r["label"] == r["file"].split("-")[0] for r in known]) > 0.7
    others = [r for r in rows if r["file"].startswith("field")]
    assert np.mean([r["unknown"] == "1" and r["label"] == "unknown" for r in others]) > 0.5
    assert all(0 < float(r["probability"]) <= 1 for r in rows)
    printed = capsys.readouterr().out
    assert "leave-one-out on the support set" in printed and "rejection threshold" in printed


@pytest.mark.parametrize("name", ["clf.safetensors", "clf.joblib"])
def test_classify_without_rejection_saves_a_reusable_classifier(folders, tmp_path, name):
    root, _ = folders
    out, saved = tmp_path / "p.csv", tmp_path / name
    assert main(["classify", str(root / "support"), str(root / "queries"), "--rejection",
                 "none", "--output", str(out), "--save", str(saved)]) == 0
    rows = _rows(out)
    assert not any(r["unknown"] == "1" for r in rows)
    assert all(r["label"] == r["nearest_class"] for r in rows)
    assert is_model_file(saved) == (name == "clf.safetensors")  # the safe format by default
    clf = load(saved) if is_model_file(saved) else joblib.load(saved)
    clip, _ = sf.read(root / "queries" / rows[0]["file"], dtype="float32")
    assert clf.predict([clip])[0] == rows[0]["label"]


def test_classify_takes_an_encoder_or_the_encoder_of_a_saved_classifier(folders, tmp_path):
    """--model may be an encoder, or a few-shot classifier on one (its head left aside)."""
    root, _ = folders
    support = load_audio_folder(root / "support")
    X, y = support.data, support.target
    encoder = SpectralStatistics(texture_weight=0, standardize="fit").fit(X)
    save(encoder, tmp_path / "encoder.safetensors")
    probe = LinearProbeClassifier(encoder=FrozenEstimator(encoder))
    save(probe, tmp_path / "unfitted_probe.safetensors")  # as the committed ESC-50 model
    save(probe.fit(X, y), tmp_path / "probe.safetensors")
    labels = []
    for name in ("encoder.safetensors", "probe.safetensors", "unfitted_probe.safetensors"):
        out = tmp_path / f"{name}.csv"
        assert main(["classify", str(root / "support"), str(root / "queries"),
                     "--output", str(out), "--model", str(tmp_path / name)]) == 0
        labels.append([(r["label"], r["distance"]) for r in _rows(out)])
    assert labels[0] == labels[1] == labels[2]
    default = tmp_path / "default.csv"
    assert main(["classify", str(root / "support"), str(root / "queries"),
                 "--output", str(default)]) == 0
    assert [(r["label"], r["distance"]) for r in _rows(default)] != labels[0]


def test_classify_refuses_a_model_that_cannot_embed(folders, tmp_path, capsys):
    root, _ = folders
    joblib.dump({"not": "a model"}, tmp_path / "thing.joblib")
    assert main(["classify", str(root / "support"), str(root / "queries"),
                 "--model", str(tmp_path / "thing.joblib")]) == 2
    err = capsys.readouterr().err
    assert "runs any code it contains" in err  # the pickle warning first
    assert err.splitlines()[-1] == (f"skfewaudio: error: {tmp_path / 'thing.joblib'} holds a "
                                    "dict, which cannot embed clips: give a fitted encoder or "
                                    "a fitted few-shot classifier.")


def test_classify_plots_are_png_files(folders, tmp_path):
    pytest.importorskip("matplotlib")
    root, _ = folders
    assert main(["classify", str(root / "support"), str(root / "queries"),
                 "--output", str(tmp_path / "p.csv"), "--plots", str(tmp_path / "plots")]) == 0
    for name in ("support_confusion.png", "embedding_map.png", "score_histograms.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["--rejection", "maybe"], "--rejection must be 'auto', 'none' or a number"),
    (["--rejection", "-1"], "non-negative distance"),
])
def test_classify_errors_are_one_line(folders, tmp_path, capsys, argv, message):
    root, _ = folders
    assert main(["classify", str(root / "support"), str(root / "queries"),
                 "--output", str(tmp_path / "p.csv")] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("skfewaudio: error:") and message in err and err.count("\n") == 1


def test_classify_names_a_missing_query_folder(folders, tmp_path, capsys):
    root, _ = folders
    assert main(["classify", str(root / "support"), str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    for i in range(2):
        x, _ = make_event_recording(10, n_events=5, n_distractors=3, random_state=i)
        (root / "corpus" / f"site{i}").mkdir(parents=True)
        sf.write(root / "corpus" / f"site{i}" / "night.wav", x, SR)
    x, ev = make_event_recording(10, n_events=5, n_distractors=3, random_state=9)
    (root / "examples").mkdir()
    for k, (on, off, _) in enumerate(ev[:3]):
        sf.write(root / "examples" / f"call{k}.wav", x[int(on * SR): int(off * SR)], SR)
    return root


def test_search_lists_matches_and_reuses_its_index(corpus, tmp_path, capsys):
    out = tmp_path / "matches.csv"
    argv = ["search", str(corpus / "examples"), str(corpus / "corpus"), "--window", "0.3",
            "--top", "5", "--index", str(tmp_path / "index"), "--output", str(out)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "2 new recordings embedded" in first and "site0/night.wav" in first
    rows = _rows(out)
    assert len(rows) == 5 and list(rows[0]) == ["file", "start", "end", "score"]
    assert float(rows[0]["score"]) >= float(rows[-1]["score"])
    assert main(argv) == 0
    assert "0 new recordings embedded" in capsys.readouterr().out
    assert _rows(out) == rows
    assert main(argv[:-6] + ["--window", "0.5", "--index", str(tmp_path / "index")]) == 2
    assert "holds windows of 0.3 s" in capsys.readouterr().err



def test_search_says_once_when_its_windows_are_far_shorter_than_the_models(corpus,
                                                                         tmp_path):
    import warnings

    from skfewaudio import ProtoContrastiveClassifier

    params = {**ProtoContrastiveClassifier.get_test_params(), "window_seconds": 0.8}
    X, y = make_sounds(n_classes=2, n_per_class=2, duration=0.8, random_state=0)
    save(ProtoContrastiveClassifier(**params).fit(X, y), tmp_path / "net.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["search", str(corpus / "examples"), str(corpus / "corpus"),
                     "--window", "0.3", "--index", str(tmp_path / "index"),
                     "--model", str(tmp_path / "net.safetensors")]) == 0
    padded = [str(w.message) for w in caught if "zero-padded" in str(w.message)]
    window = "the network's 0.8 s window (12800 samples)"
    assert padded == [  # once, for the many batches of the corpus's and examples' windows
        f"windows of 0.3 s are shorter than half of {window}, zero-padded to it, so the "
        "padding outweighs the sound; --window 0.8 fits the model (with a new --index)."]


def test_unreadable_files_stop_each_command_unless_skipped(folders, corpus, tmp_path, capsys):
    root, _ = folders
    queries, recordings = tmp_path / "queries", tmp_path / "corpus"
    for folder, source in ((queries, root / "queries"), (recordings, corpus / "corpus")):
        folder.mkdir()
        for i, file in enumerate(sorted(source.rglob("*.wav"))[:2]):
            (folder / f"{i}-{file.name}").write_bytes(file.read_bytes())
        (folder / "broken.wav").write_bytes(b"RIFF garbage")
    classify = ["classify", str(root / "support"), str(queries),
                "--output", str(tmp_path / "p.csv")]
    search = ["search", str(corpus / "examples"), str(recordings), "--window", "0.3",
              "--index", str(tmp_path / "index")]
    for argv in (classify, search):
        assert main(argv) == 2  # one error line, no traceback
        err = capsys.readouterr().err
        assert "broken.wav: Error opening" in err and "--skip-bad-files" in err
        with pytest.warns(UserWarning, match=r"1 file .*could not be read"):
            assert main(argv + ["--skip-bad-files"]) == 0
    assert len(_rows(tmp_path / "p.csv")) == 2
    out = capsys.readouterr().out  # the readable two were kept by the run that stopped
    assert "2 recordings, " in out and "(0 new recordings embedded)" in out


def test_clips_far_shorter_than_a_window_are_named_by_file_once(folders, tmp_path):
    import shutil
    import warnings

    root, classes = folders
    support, queries = tmp_path / "support", tmp_path / "queries"
    shutil.copytree(root / "support", support)
    shutil.copytree(root / "queries", queries)
    clip, _ = sf.read(support / classes[0] / "0.wav", dtype="float32")
    for folder in (support / classes[0], queries):  # 320 samples: under half of n_fft
        sf.write(folder / "tiny.wav", clip[:320], SR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["classify", str(support), str(queries),
                     "--output", str(tmp_path / "p.csv")]) == 0
    padded = [str(w.message) for w in caught if "zero-padded" in str(w.message)]
    window = "one STFT frame (n_fft) (1024 samples)"
    assert padded == [  # support then queries; not again when the summary re-embeds
        f"1 file shorter than half of {window}, zero-padded to it, so the padding outweighs "
        f"the sound: {name}; use longer clips, or a model of shorter windows."
        for name in (f"{classes[0]}/tiny.wav", "tiny.wav")]


def test_warnings_read_like_the_errors_on_the_command_line():
    import warnings

    from skfewaudio.cli import _plain_warnings

    original = warnings.formatwarning
    with _plain_warnings():
        shown = warnings.formatwarning("1 file down-mixed", UserWarning, "/lib/x.py", 7)
    assert shown == "skfewaudio: warning: 1 file down-mixed\n"
    assert warnings.formatwarning is original
