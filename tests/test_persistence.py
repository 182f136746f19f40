"""skfewaudio.save / load: every public estimator round-trips without pickle."""

import json
import pickle

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skfewaudio import (
    MelSpectrogram,
    MelStatistics,
    PrototypeClassifier,
    ProtoContrastiveClassifier,
    SupConPretrainer,
    load,
    make_sounds,
    save,
)
from skfewaudio._persistence import FORMAT, is_model_file
from skfewaudio.detection import FewShotEventDetector, make_event_recording
from skfewaudio.utils._discovery import instance_for_tests, testable_estimators


@pytest.fixture(scope="module")
def sounds():
    return make_sounds(n_classes=3, n_per_class=4, duration=0.25, random_state=0)


@pytest.fixture(scope="module")
def recording():
    return make_event_recording(20.0, n_events=10, sample_rate=16000, random_state=0)


def _fit_and_outputs(estimator, sounds, recording):
    """Fit on data the estimator takes; return a function of the fitted model giving
    every output a user relies on."""
    X, y = sounds
    if isinstance(estimator, FewShotEventDetector):
        x, events = recording
        estimator.fit(x, events)
        return lambda model: model.predict(x)
    if type(estimator).__name__ == "SpecAugment":
        X = MelSpectrogram(n_mels=16, n_fft=256, hop_length=128).fit_transform(X)
        estimator.fit(X)
        return lambda model: model.transform(X)
    estimator.fit(X, y)
    methods = [m for m in ("predict", "predict_proba", "decision_function", "transform")
               if hasattr(estimator, m)]
    return lambda model: [getattr(model, m)(X) for m in methods]


@pytest.mark.parametrize("name, cls", testable_estimators(),
                         ids=[n for n, _ in testable_estimators()])
def test_every_estimator_round_trips_to_identical_outputs(name, cls, sounds, recording,
                                                         tmp_path):
    estimator = instance_for_tests(cls)
    path = tmp_path / "unfitted.safetensors"
    save(estimator, path)
    assert load(path).get_params().keys() == estimator.get_params().keys()

    outputs = _fit_and_outputs(estimator, sounds, recording)
    save(estimator, tmp_path / "fitted.safetensors")
    loaded = load(tmp_path / "fitted.safetensors")
    assert type(loaded) is cls
    for before, after in zip(_flat(outputs(estimator)), _flat(outputs(loaded))):
        np.testing.assert_array_equal(after, before)


def _flat(outputs):
    return outputs if isinstance(outputs, list) else [outputs]


def test_loading_never_unpickles(sounds, tmp_path, monkeypatch):
    model = PrototypeClassifier(encoder=FrozenEstimator(
        SupConPretrainer(**SupConPretrainer.get_test_params()).fit(*sounds))).fit(*sounds)
    save(model, tmp_path / "m.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(sounds[0]), model.predict_proba(sounds[0]))


def _forged(tmp_path, estimator_node):
    document = {"format": FORMAT, "version": 1, "estimator": estimator_node}
    path = tmp_path / "forged.safetensors"
    save_file({"t0": torch.zeros(1)}, str(path), metadata={FORMAT: json.dumps(document)})
    return path


@pytest.mark.parametrize("path", ["os.system", "subprocess.Popen", "builtins.eval",
                                  "torch.nn.Module", "skfewaudio._persistence._Reader"])
def test_a_crafted_file_naming_an_untrusted_type_is_refused(tmp_path, path):
    node = {"__type__": "object", "class": path, "id": 0, "state": {"cmd": "touch pwned"}}
    with pytest.raises(ValueError, match="not a type skfewaudio trusts"):
        load(_forged(tmp_path, node))
    assert not (tmp_path / "pwned").exists()


def test_a_crafted_class_value_is_refused(tmp_path):
    node = {"__type__": "class", "path": "os.system"}
    with pytest.raises(ValueError, match="not trusted"):
        load(_forged(tmp_path, node))


def test_other_files_get_a_clear_error(tmp_path, sounds):
    import joblib

    joblib.dump(PrototypeClassifier().fit(*sounds), tmp_path / "model.joblib")
    with pytest.raises(ValueError, match="not a skfewaudio model file"):
        load(tmp_path / "model.joblib")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="not a skfewaudio model"):
        load(tmp_path / "plain.safetensors")
    assert not is_model_file(tmp_path / "model.joblib")
    assert not is_model_file(tmp_path / "plain.safetensors")
    with pytest.raises(FileNotFoundError, match="no model file at .*missing"):
        load(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match="that is a folder"):
        load(tmp_path)


def test_unstorable_settings_are_named_at_save(sounds, tmp_path):
    custom = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten())
    with pytest.raises(TypeError, match=r"estimator\.encoder is a torch\.nn"):
        save(ProtoContrastiveClassifier(encoder=custom), tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"captioner is a builtins\.function"):
        from skfewaudio import MultiGrainedCLAPAdapter

        save(MultiGrainedCLAPAdapter(captioner=lambda clips, sr: ["a"] * len(clips)),
             tmp_path / "y.safetensors")


def test_training_callbacks_are_dropped_with_a_warning(tmp_path):
    from skorch.callbacks import EpochScoring

    est = SupConPretrainer(callbacks=[EpochScoring("train_loss")])
    with pytest.warns(UserWarning, match="callbacks"):
        save(est, tmp_path / "c.safetensors")
    assert load(tmp_path / "c.safetensors").callbacks is None


def test_pipelines_shared_objects_and_optimizer_classes(sounds, tmp_path):
    pre = SupConPretrainer(**SupConPretrainer.get_test_params(),
                           optimizer=torch.optim.AdamW).fit(*sounds)
    frozen = FrozenEstimator(pre)
    model = make_pipeline(MelSpectrogram(n_mels=16, n_fft=128, hop_length=64),
                          clone(PrototypeClassifier(encoder=frozen)))
    model.fit(*sounds)
    save(model, tmp_path / "p.safetensors")
    loaded = load(tmp_path / "p.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(sounds[0]), model.predict_proba(sounds[0]))
    prototype = loaded[-1]
    assert prototype.encoder_ is prototype.encoder  # one object, stored once
    assert prototype.encoder.estimator.optimizer is torch.optim.AdamW


def test_a_weighted_union_of_centred_embeddings_round_trips(sounds, tmp_path):
    # The shape of the shipped ESC-50 model: CL2N embeddings beside fixed statistics.
    X, y = sounds
    pre = SupConPretrainer(**SupConPretrainer.get_test_params()).fit(X, y)
    learned = make_pipeline(FrozenEstimator(pre), StandardScaler(with_std=False),
                            Normalizer()).fit(X)
    union = FeatureUnion([("learned", FrozenEstimator(learned)),
                          ("stats", make_pipeline(MelStatistics(n_mels=16), Normalizer()))],
                         transformer_weights={"learned": 0.8, "stats": 0.6}).fit(X)
    model = PrototypeClassifier(encoder=FrozenEstimator(union), metric="cosine").fit(X, y)
    save(model, tmp_path / "u.safetensors")
    loaded = load(tmp_path / "u.safetensors")
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    assert loaded.encoder.estimator.transformer_weights == {"learned": 0.8, "stats": 0.6}


def test_a_file_from_before_a_parameter_existed_loads_with_its_default(sounds, tmp_path):
    X, y = sounds
    params = ProtoContrastiveClassifier.get_test_params()
    model = ProtoContrastiveClassifier(**params, test_time_pool=None).fit(X, y)
    expected = model.transform(X)  # embedded as before test_time_pool existed
    del model.test_time_shifts, model.test_time_pool  # as in files written before the
    save(model, tmp_path / "old.safetensors")            # parameters were added
    joblib.dump(model, tmp_path / "old.joblib")
    for loaded in (load(tmp_path / "old.safetensors"), joblib.load(tmp_path / "old.joblib")):
        assert loaded.test_time_shifts == ()
        assert loaded.test_time_pool is None
        np.testing.assert_array_equal(loaded.transform(X), expected)


def test_a_model_with_a_gpu_device_setting_loads_and_predicts_on_the_cpu(sounds, tmp_path):
    model = ProtoContrastiveClassifier(**ProtoContrastiveClassifier.get_test_params())
    model.fit(*sounds)
    expected = model.predict_proba(sounds[0])
    model.device = "cuda"  # as if trained on a GPU: the weights are written from the CPU
    save(model, tmp_path / "gpu.safetensors")
    loaded = load(tmp_path / "gpu.safetensors")
    assert loaded.device == "cuda" and loaded.net_.device == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(sounds[0]), expected)
