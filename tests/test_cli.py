import json

import pytest
import soundfile as sf

from skfewaudio.cli import main


@pytest.fixture
def recordings(tmp_path, sounds):
    X, y = sounds
    for i, (clip, label) in enumerate(zip(X, y)):
        folder = tmp_path / "data" / label
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{i}.wav", clip, 16000)
    classes = sorted(set(y))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": classes[:3], "val": classes[3:]}))
    return tmp_path / "data", split


def test_evaluate_writes_json_results(recordings, tmp_path, capsys):
    data, split = recordings
    out = tmp_path / "results.json"
    code = main(["evaluate", str(data), "--split-file", str(split), "--n-way", "3",
                 "--n-shot", "1", "2", "--episodes", "40", "--output", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert [row["n_shot"] for row in report["results"]] == [1, 2]
    assert len(report["classes"]) == 5 and report["n_clips"] == 50
    assert all(1 / 3 < row["accuracy"] <= 1 for row in report["results"])
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_names_clips_far_shorter_than_a_window_once(recordings, tmp_path):
    import warnings

    data, _ = recordings
    label = sorted(p.name for p in data.iterdir())[0]
    clip, _ = sf.read(next((data / label).iterdir()), dtype="float32")
    sf.write(data / label / "tiny.wav", clip[:320], 16000)  # under half of one STFT frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["evaluate", str(data), "--n-way", "3", "--n-shot", "1", "--episodes",
                     "20", "--output", str(tmp_path / "r.json")]) == 0
    padded = [str(w.message) for w in caught if "zero-padded" in str(w.message)]
    assert padded == ["1 file shorter than half of one STFT frame (n_fft) (1024 samples), "
                      f"zero-padded to it, so the padding outweighs the sound: {label}/tiny.wav; "
                      "use longer clips, or a model of shorter windows."]


@pytest.mark.parametrize("argv, message", [
    (["train", "DATA", "--output", "m.safetensors", "--epochs", "0"],
     "argument --epochs: must be above 0, got 0"),
    (["train", "DATA", "--output", "m.safetensors", "--window-seconds", "-1"],
     "argument --window-seconds: must be above 0, got -1"),
    (["classify", "DATA", "DATA", "--false-rejection-rate", "2"],
     "argument --false-rejection-rate: must be in [0, 1), got 2"),
    (["search", "DATA", "DATA", "--window", "0"], "argument --window: must be above 0, got 0"),
    (["evaluate", "DATA", "--sample-rate", "0"], "argument --sample-rate: must be above 0, got 0"),
    (["classify", "DATA", "DATA", "--sample-rate", "-8000"],
     "argument --sample-rate: must be above 0, got -8000"),
    (["evaluate", "DATA", "--n-shot", "1", "0"], "argument --n-shot: must be above 0, got 0"),
    (["evaluate", "DATA", "--episodes", "0"], "argument --episodes: must be above 0, got 0"),
    (["search", "DATA", "DATA", "--top", "0"], "argument --top: must be above 0, got 0"),
])
def test_bad_numbers_are_refused_before_any_audio_is_read(recordings, capsys, argv, message):
    data, _ = recordings
    with pytest.raises(SystemExit) as info:
        main([str(data) if arg == "DATA" else arg for arg in argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_errors_are_one_line_without_traceback(recordings, tmp_path, capsys):
    data, split = recordings
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skfewaudio: error:") and "Traceback" not in err
    assert main(["evaluate", str(data), "--split-file", str(split), "--eval-split", "test"]) == 2
    assert "no list of classes under 'test'" in capsys.readouterr().err
    assert main(["evaluate", str(data), "--n-way", "9", "--output",
                 str(tmp_path / "r.json")]) == 2
    assert "n_way=9 but only 8 classes" in capsys.readouterr().err


def test_demo_runs_and_prints_the_table(capsys):
    assert main(["demo", "--episodes", "50", "--methods", "prototype"]) == 0
    out = capsys.readouterr().out
    assert "prototype" in out and "95% CI" in out


def test_evaluate_a_saved_model_in_either_format(recordings, tmp_path, capsys, sounds):
    import joblib

    from skfewaudio import PrototypeClassifier, save

    data, _ = recordings
    model = PrototypeClassifier(metric="cosine").fit(*sounds)
    save(model, tmp_path / "model.safetensors")
    joblib.dump(model, tmp_path / "model.joblib")
    accuracies = []
    for name in ("model.safetensors", "model.joblib"):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", str(data), "--model", str(tmp_path / name), "--n-way", "3",
                     "--n-shot", "1", "--episodes", "30", "--output", str(out)]) == 0
        accuracies.append(json.loads(out.read_text())["results"][0]["accuracy"])
    assert accuracies[0] == accuracies[1]
    assert "runs any code it contains" in capsys.readouterr().err  # only for the pickle


def test_evaluate_a_saved_linear_probe_embeds_once(recordings, tmp_path, sounds):
    import numpy as np
    from sklearn.frozen import FrozenEstimator

    from skfewaudio import LinearProbeClassifier, SpectralStatistics, evaluate_episodes, save
    from skfewaudio.datasets import load_audio_folder

    data, _ = recordings
    encoder = SpectralStatistics(standardize="fit").fit(sounds[0])
    save(LinearProbeClassifier(FrozenEstimator(encoder), C=3.0), tmp_path / "probe.safetensors")
    out = tmp_path / "probe.json"
    assert main(["evaluate", str(data), "--model", str(tmp_path / "probe.safetensors"),
                 "--n-way", "3", "--n-shot", "2", "--episodes", "30", "--output", str(out)]) == 0
    folder = load_audio_folder(data, sample_rate=16000)
    direct = evaluate_episodes(LinearProbeClassifier(FrozenEstimator(encoder), C=3.0),
                               folder.data, folder.target, n_way=3, n_shot=2,
                               n_episodes=30, random_state=0)
    assert direct["embedded_once"]
    np.testing.assert_allclose(json.loads(out.read_text())["results"][0]["accuracy"],
                               direct["accuracy"])
    assert main(["evaluate", str(data), "--method", "probe", "--n-way", "3", "--n-shot", "1",
                 "--episodes", "20", "--output", str(tmp_path / "m.json")]) == 0
