"""SupConPretrainer, its batch sampler and the FineTuneClassifier head (synthetic, CPU)."""

import pickle
from dataclasses import replace

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skfewaudio import MelStatistics, PrototypeClassifier, load, make_sounds, save
from skfewaudio.supcon import (
    ClassBalancedBatchSampler,
    FineTuneClassifier,
    SupConPretrainer,
)
from skfewaudio._network import net_on_cpu

DURATION = 0.5
FAST = dict(encoder="small", window_seconds=DURATION, n_mels=32, batch_size=16,
            projection_dim=16, projection_hidden=32, random_state=0)


@pytest.fixture(scope="module")
def sounds():
    X, y = make_sounds(n_classes=6, n_per_class=8, duration=DURATION, random_state=0)
    base = np.isin(y, np.unique(y)[:4])
    return X[base], y[base], X[~base], y[~base]


@pytest.fixture(scope="module")
def pre(sounds):
    X, y, _, _ = sounds
    return SupConPretrainer(**FAST, max_epochs=12).fit(X, y)


def _class_separation(embeddings, y):
    z = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    cos = z @ z.T
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    return cos[same & off].mean(), cos[~same].mean()


def test_training_lowers_loss_and_groups_classes(pre, sounds):
    X, y, _, _ = sounds
    losses = pre.net_.history[:, "train_loss"]
    assert np.mean(losses[-3:]) < losses[0]
    within, between = _class_separation(pre.transform(X), y)
    untrained = SupConPretrainer(**{**FAST, "lr": 1e-12}, max_epochs=1).fit(X, y)
    within0, between0 = _class_separation(untrained.transform(X), y)
    assert within > between
    assert within - between > within0 - between0  # training widened the gap


def test_angular_loss_trains(sounds):
    X, y, _, _ = sounds
    pre = SupConPretrainer(**FAST, loss="angular", max_epochs=6).fit(X, y)
    losses = pre.net_.history[:, "train_loss"]
    assert np.isfinite(losses).all() and np.mean(losses[-2:]) < losses[0]
    assert pre.net_.criterion_.alpha == pytest.approx(0.7)


def test_cross_entropy_pretraining_groups_classes(sounds, tmp_path):
    X, y, _, _ = sounds
    pre = SupConPretrainer(**FAST, loss="cross_entropy", max_epochs=8).fit(X, y)
    assert pre.n_classes_ == 4
    assert pre.net_.module_.projector.out_features == 4  # a classifier, not a projector
    losses = pre.net_.history[:, "train_loss"]
    assert np.mean(losses[-2:]) < losses[0]
    within, between = _class_separation(pre.transform(X), y)
    assert within > between
    save(pre, tmp_path / "ce.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "ce.safetensors").transform(X),
                                  pre.transform(X))
    with pytest.raises(ValueError, match="needs their labels"):
        SupConPretrainer(**FAST, loss="cross_entropy").fit(X)


def test_conv4_encoder_embeds_any_length(sounds):
    X, y, _, _ = sounds
    pre = SupConPretrainer(**{**FAST, "encoder": "conv4"}, loss="cross_entropy",
                           max_epochs=1).fit(X, y)
    assert pre.embedding_dim_ == 64
    long_clip = np.tile(X[0], 3)  # three windows, averaged
    assert pre.transform([long_clip, X[1]]).shape == (2, 64)


def test_self_supervised_needs_no_labels(sounds):
    X, _, _, _ = sounds
    pre = SupConPretrainer(**FAST, max_epochs=6).fit(X)
    assert pre.supervised_ is False
    losses = pre.net_.history[:, "train_loss"]
    assert np.mean(losses[-2:]) < losses[0]
    assert pre.transform(X).shape == (len(X), pre.embedding_dim_)
    angular = SupConPretrainer(**FAST, loss="angular", max_epochs=1).fit(X, None)
    assert angular.net_.criterion_.alpha == pytest.approx(0.3)


def test_transform_any_length_and_deterministic(pre):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (500, 8000, 24000)]
    out = pre.transform(clips)
    assert out.shape == (3, pre.embedding_dim_) and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, pre.transform(clips))
    # A 1.5 s clip is three 0.5 s windows and its embedding their mean: three copies
    # of one window (same z-normalisation as the window alone) embed as that window.
    window = clips[1]
    np.testing.assert_allclose(pre.transform([np.tile(window, 3)]), out[1:2],
                               rtol=1e-4, atol=1e-5)


def test_same_seed_same_result(sounds):
    X, y, _, _ = sounds
    a = SupConPretrainer(**FAST, max_epochs=1).fit(X, y).transform(X[:5])
    b = SupConPretrainer(**FAST, max_epochs=1).fit(X, y).transform(X[:5])
    np.testing.assert_array_equal(a, b)


def test_bad_input_errors(sounds):
    X, y, _, _ = sounds
    with pytest.raises(ValueError, match="single clip"):
        SupConPretrainer(**FAST).fit(X[:4], np.array(["a", "a", "b", "c"]))
    with pytest.raises(ValueError, match="only one class"):
        SupConPretrainer(**FAST).fit(X[:4], np.array(["a"] * 4))
    with pytest.raises(ValueError, match="number of views"):
        SupConPretrainer(**{**FAST, "batch_size": 1}).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        SupConPretrainer(loss="triplet").fit(X, y)


def test_persistence_round_trip(pre, sounds, tmp_path):
    X = sounds[2]
    path = tmp_path / "pre.joblib"
    joblib.dump(pre, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(X), pre.transform(X))
    # The pickled state holds CPU tensors only (a GPU-trained model reloads on CPU).
    state = pickle.loads(pickle.dumps(pre)).__getstate__()
    tensors = list(state["net_"].module_.state_dict().values())
    assert tensors and all(t.device.type == "cpu" for t in tensors)


LOG_MEL = {"compression": "log", "frequency_scale": "mel"}  # the defaults


@pytest.mark.parametrize("front_end", [{"compression": "pcen"}, {"frequency_scale": "linear"}])
def test_front_end_settings_train_and_survive_save_and_load(sounds, tmp_path, front_end):
    X, y, X_new, _ = sounds
    pre = SupConPretrainer(**FAST, max_epochs=1, **front_end).fit(X, y)
    assert all(getattr(pre.frontend_, k) == v for k, v in front_end.items())
    ours = pre.frontend_.transform(X_new, normalize=False).spectrograms
    log_mel = replace(pre.frontend_, **LOG_MEL).transform(X_new, normalize=False).spectrograms
    assert ours.shape == log_mel.shape and not np.allclose(ours, log_mel, atol=1.0)
    save(pre, tmp_path / "model.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "model.safetensors").transform(X_new),
                                  pre.transform(X_new))


def test_net_on_cpu_copy_is_equivalent(pre, sounds):
    cpu_net = net_on_cpu(pre.net_)
    assert cpu_net is not pre.net_ and cpu_net.device == "cpu"
    spec = torch.from_numpy(pre.frontend_.transform(sounds[2][:4]).spectrograms)
    with torch.inference_mode():
        torch.testing.assert_close(cpu_net.module_.eval().embed(spec),
                                   pre.net_.module_.eval().embed(spec))
    old, new = pre.net_.optimizer_.state_dict(), cpu_net.optimizer_.state_dict()
    for key, value in old["state"].items():
        torch.testing.assert_close(new["state"][key]["momentum_buffer"],
                                   value["momentum_buffer"])


def test_clone_unfitted_is_cheap_and_params_round_trip(pre):
    cloned = clone(pre)
    assert not hasattr(cloned, "net_")
    params = cloned.get_params()
    assert params["mix"] == (5.0, 2.0) and params["encoder"] == "small"
    cloned.set_params(time_crop=None, mix=None, noise_std=0.0)
    assert clone(cloned).get_params()["time_crop"] is None


def test_grid_search_over_pretrainer_params(sounds):
    X, y, _, _ = sounds
    pipe = make_pipeline(SupConPretrainer(**FAST, max_epochs=1),
                         LogisticRegression(max_iter=200))
    grid = GridSearchCV(pipe, {"supconpretrainer__loss": ["supcon", "angular"]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["supconpretrainer__loss"] in {"supcon", "angular"}


def test_linear_probe_and_prototype_heads(pre, sounds):
    _, _, X_new, y_new = sounds
    support = np.r_[0:4, 8:12]  # 4 shots of each of the 2 new classes
    query = np.setdiff1d(np.arange(len(y_new)), support)
    probe = make_pipeline(FrozenEstimator(pre), LogisticRegression(max_iter=1000))
    proto = PrototypeClassifier(encoder=FrozenEstimator(pre), metric="cosine")
    for head in (probe, proto):
        fitted = clone(head).fit(X_new[support], y_new[support])  # stays pre-trained
        assert fitted.score(X_new[query], y_new[query]) >= 0.75
    np.testing.assert_array_equal(probe[0].transform(X_new), pre.transform(X_new))


@pytest.mark.parametrize("n_blocks", [0, 1, 2, "all"])
def test_fine_tune_classifier(pre, sounds, n_blocks):
    _, _, X_new, y_new = sounds
    support = np.r_[0:3, 8:11]
    query = np.setdiff1d(np.arange(len(y_new)), support)
    before = {k: v.clone() for k, v in pre.net_.module_.encoder.state_dict().items()}
    clf = FineTuneClassifier(FrozenEstimator(pre), n_blocks=n_blocks, max_epochs=5,
                             random_state=0).fit(X_new[support], y_new[support])
    proba = clf.predict_proba(X_new[query])
    assert proba.shape == (len(query), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.score(X_new[query], y_new[query]) >= 0.5
    # The pre-trained encoder is never modified; only the chosen blocks of the copy are.
    after = pre.net_.module_.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    tuned = clf.net_.module_.encoder.state_dict()
    changed = {k.split(".")[1] for k in before
               if k.startswith("blocks.") and not torch.equal(before[k], tuned[k])}
    expected = {0: set(), 1: {"2"}, 2: {"1", "2"}, "all": {"0", "1", "2"}}[n_blocks]
    assert changed == expected


def test_fine_tune_classifier_errors(pre, sounds):
    X, y, _, _ = sounds
    with pytest.raises(ValueError, match="needs an encoder"):
        FineTuneClassifier().fit(X, y)
    with pytest.raises(ValueError, match="3 blocks"):
        FineTuneClassifier(FrozenEstimator(pre), n_blocks=4, max_epochs=1).fit(X, y)
    with pytest.raises(TypeError, match="SupConPretrainer"):
        FineTuneClassifier(MelStatistics()).fit(X, y)


def test_class_balanced_batches():
    labels = np.repeat(np.arange(10), 6)
    sampler = ClassBalancedBatchSampler(labels, 16, clips_per_class=4, random_state=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 4
    for batch in batches:
        assert len(batch) == len(set(batch)) == 16
        counts = np.bincount(labels[batch], minlength=10)
        assert set(counts[counts > 0]) == {4}  # 4 classes, 4 clips each
    again = list(ClassBalancedBatchSampler(labels, 16, clips_per_class=4, random_state=0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    # Fewer classes than batch slots: every class is in every batch.
    small = ClassBalancedBatchSampler(np.repeat([0, 1], 3), 8, random_state=0)
    for batch in small:
        assert set(np.bincount(np.repeat([0, 1], 3)[batch])) == {3}


def test_transform_subset_invariance_within_float_tolerance(pre, sounds):
    # sklearn's exact check is declared as expected to fail (batch-size dependent
    # float32 kernels); the embeddings must still agree to float precision.
    X = sounds[2]
    full = pre.transform(X)
    parts = np.concatenate([pre.transform(X[i:i + 3]) for i in range(0, len(X), 3)])
    np.testing.assert_allclose(parts, full, rtol=1e-5, atol=1e-6)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(pre.transform(X[order]), full[order], rtol=1e-5, atol=1e-6)


def test_fitted_pretrainer_hashes_and_pickles_small(pre, sounds):
    # joblib.hash (used by sklearn checks and joblib.Memory) must work on a fitted model,
    # and the pickle must not carry the training data or a second optimizer copy.
    joblib.hash(pre)
    X, y, X_val, y_val = sounds
    with_val = SupConPretrainer(**FAST, max_epochs=1).fit(X, y, X_val=X_val, y_val=y_val)
    assert "valid_acc_1shot" in with_val.net_.history[-1]
    without = SupConPretrainer(**FAST, max_epochs=1).fit(X, y)
    assert len(pickle.dumps(with_val)) < 1.1 * len(pickle.dumps(without))


def test_spectrogram_input(pre, sounds):
    from skfewaudio import MelSpectrogram

    X = sounds[2]
    specs = MelSpectrogram(n_mels=32).fit_transform(X)
    out = pre.transform(specs)
    assert out.shape == (len(X), pre.embedding_dim_) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="mel bands"):
        pre.transform(MelSpectrogram(n_mels=16).fit_transform(X))


def test_custom_encoder_module(sounds):
    from skfewaudio.nn import ResNetEncoder

    X, y, X_new, y_new = sounds
    module = ResNetEncoder((4, 8), n_convs=1, pools=((2, 2), (1, 2)), output_size=(2, 1))
    pre = SupConPretrainer(**{**FAST, "encoder": module}, max_epochs=1).fit(X, y)
    assert pre.embedding_dim_ == 16 and pre.transform(X[:3]).shape == (3, 16)
    assert pre.net_.module_.encoder is not module  # the user's module is copied
    clf = FineTuneClassifier(FrozenEstimator(pre), n_blocks=2, max_epochs=1).fit(X_new, y_new)
    assert clf.predict(X_new[:2]).shape == (2,)
