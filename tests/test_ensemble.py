"""The recommended recipe: ``train_ensemble``, ``join_encoders`` and ``skfewaudio train``."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.frozen import FrozenEstimator

from skfewaudio import (LinearProbeClassifier, PrototypeClassifier, SpectralStatistics, load,
                        make_sounds, save)
from skfewaudio._cli_train import median_window
from skfewaudio.cli import main
from skfewaudio.protocontrastive import (NETWORKS, ProtoContrastiveClassifier, join_encoders,
                                         train_ensemble)
from skfewaudio.protocontrastive._ensemble import (PROBE_C, SPECTRAL_WEIGHT, WHITENING,
                                                   joined_encoders)

COMMITTED = (Path(__file__).parents[1] / "benchmarks" / "models"
             / "protocontrastive_probe_esc50.safetensors")
# Tiny networks on half-second windows; the settings of NETWORKS still set them apart.
TINY = dict(n_maps=8, window_seconds=0.5, n_way=3, n_shot=1, n_query=1,
            episodes_per_epoch=2, max_epochs=1, projection_dim=16)


@pytest.fixture(scope="module")
def sounds():
    return make_sounds(n_classes=6, n_per_class=5, duration=0.5, random_state=0)


@pytest.fixture(scope="module")
def trained(sounds):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:3])
    return train_ensemble(X[base], y[base], n_networks=2, **TINY), base


def test_trained_ensemble_is_a_probe_on_frozenjoined_encoders(trained, sounds, tmp_path):
    model, base = trained
    X, y = sounds
    assert isinstance(model, LinearProbeClassifier) and model.C == PROBE_C
    networks = joined_encoders(model)
    assert [n.encoder for n in networks] == ["conv4", "resnet"]
    assert all(n.n_maps == 8 and n.random_state == 0 for n in networks)
    novel = ~base
    support, query = np.flatnonzero(novel)[::5], np.flatnonzero(novel)[1::5]
    labels = model.fit(X[support], y[support]).predict(X[query])
    assert set(labels) <= set(y[novel])
    save(model, tmp_path / "m.safetensors")
    again = load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(again.fit(X[support], y[support]).predict(X[query]), labels)


def test_each_network_keeps_its_own_settings_over_the_shared_ones(sounds, tmp_path):
    X, y = sounds
    model = train_ensemble(X, y, n_networks=3, checkpoint_dir=tmp_path,
                           **{**TINY, "n_mels": 32, "n_fft": 256, "hop_length": 128})
    third = joined_encoders(model)[2]
    assert (third.n_mels, third.n_fft, third.hop_length) == (64, 512, 256)
    assert joined_encoders(model)[0].n_mels == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network0", "network1", "network2"]
    with pytest.raises(ValueError, match="n_networks must be 1 to 4"):
        train_ensemble(X, y, n_networks=5)


def test_join_encoders_weights_the_parts_and_whitens_within_base_classes(sounds):
    X, y = sounds
    spectral = SpectralStatistics().fit(X[:1])
    model = join_encoders([spectral, spectral], X, y, spectral_weight=0.2, whitening=None,
                          C=None)
    assert isinstance(model, PrototypeClassifier) and model.metric == "cosine"
    union = model.encoder.estimator
    assert union.transformer_weights == pytest.approx(
        {"learned0": 0.4 ** 0.5, "learned1": 0.4 ** 0.5, "spectral": 0.2 ** 0.5})
    Z = union.transform(X)
    n = Z.shape[1] // 3  # three unit-norm parts: the squared norm is the sum of weights
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1) ** 2, 1.0, rtol=1e-5)
    centred = Z[:, :n] / 0.4 ** 0.5
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, rtol=1e-5)
    whitened = join_encoders([spectral], X, y).encoder.estimator  # the defaults
    assert whitened.steps[-1][1].shrinkage == WHITENING
    assert whitened.steps[-1][1].transform(whitened.steps[0][1].transform(X[:4])).shape[0] == 4
    with pytest.raises(ValueError, match="give y_base"):
        join_encoders([spectral], X)


@pytest.mark.skipif(not COMMITTED.is_file(), reason="the committed ESC-50 model is absent")
def test_the_recipe_is_the_committed_models():
    committed = load(COMMITTED)
    assert isinstance(committed, LinearProbeClassifier) and committed.C == PROBE_C
    pipeline = committed.encoder.estimator
    assert pipeline.steps[1][1].shrinkage == WHITENING
    weights = pipeline.steps[0][1].estimator.transformer_weights
    assert weights["spectral"] == pytest.approx(SPECTRAL_WEIGHT ** 0.5)
    defaults = ProtoContrastiveClassifier().get_params()
    for network, own in zip(joined_encoders(committed), NETWORKS, strict=True):
        expected = {**defaults, **own, "random_state": 0}
        got = network.get_params()
        # The committed conv-4 names the pool that "auto" picks for its 5 s windows.
        if expected["test_time_pool"] == "auto" and network.encoder == "conv4":
            window = (network.n_mels, network.frontend_.window_frames)
            assert network._resolved_pool(network.net_.module_, window) == \
                got["test_time_pool"]
            got["test_time_pool"] = "auto"
        assert got == expected


def _folder(root, X, y):
    for i, (clip, label) in enumerate(zip(X, y)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        sf.write(root / str(label) / f"{i}.wav", clip, 16000)
    return root


def test_train_command_writes_a_model_the_other_commands_read(sounds, tmp_path, capsys):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:3])
    folder = _folder(tmp_path / "base", X[base], y[base])
    model = tmp_path / "model.safetensors"
    assert main(["train", str(folder), "--output", str(model), "--networks", "1",
                 "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "15 clips of 3 base classes" in out and "windows of 0.5 s (the median" in out
    trained = load(model)
    network, = joined_encoders(trained)
    assert (network.n_way, network.max_epochs, network.window_seconds) == (3, 1, 0.5)
    novel = _folder(tmp_path / "novel", X[~base], y[~base])
    assert main(["evaluate", str(novel), "--model", str(model), "--n-way", "3",
                 "--n-shot", "1", "--episodes", "20",
                 "--output", str(tmp_path / "r.json")]) == 0
    assert isinstance(trained.encoder, FrozenEstimator)


def test_train_command_names_clips_far_shorter_than_the_window_once(sounds, tmp_path,
                                                                   capsys):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:3])
    folder = _folder(tmp_path / "base", list(X[base][:-1]) + [X[base][-1][:2000]], y[base])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(folder), "--output", str(tmp_path / "m.safetensors"),
                     "--networks", "2", "--epochs", "1", "--window-seconds", "0.4"]) == 0
    assert "windows of 0.4 s\n" in capsys.readouterr().out
    padded = [str(w.message) for w in caught if "zero-padded" in str(w.message)]
    assert padded == [  # once, by name: not once per network and embedding, by position
        "1 file shorter than half of the network's 0.4 s window (6400 samples), zero-padded "
        f"to it, so the padding outweighs the sound: {y[base][-1]}/14.wav; lower "
        "--window-seconds or drop them."]


def test_the_default_window_is_the_median_clip_at_most_the_recipes():
    clips = [np.zeros(n) for n in (8000, 16000, 16000, 200000)]
    assert median_window(clips, 16000) == 1.0
    assert median_window([np.zeros(160000)] * 3, 16000) == 5.0
    assert median_window([np.zeros(100)], 16000) == 0.1


def test_train_command_needs_two_classes(sounds, tmp_path, capsys):
    X, y = sounds
    one = y == y[0]
    folder = _folder(tmp_path / "base", X[one], y[one])
    assert main(["train", str(folder), "--output", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "skfewaudio: error: the base clips are of 1 class; meta-training needs two" in err
