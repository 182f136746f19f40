"""MultiGrainedCLAPAdapter: component scores, switches, captions, errors, persistence."""

import pickle
import zlib

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skfewaudio.clap import (
    AudioTextBackbone,
    MultiGrainedCLAPAdapter,
    RandomAudioMiniLMBackbone,
    default_descriptions,
)
from skfewaudio.datasets import make_sounds
from skfewaudio.nn.clap_adapter import (
    MultiGrainedAdapter,
    coarse_cache_scores,
    fine_cache_scores,
    fine_contrast_scores,
    late_weighted_scores,
)

ot = pytest.importorskip("ot")


class TinyBackbone:
    """Deterministic stand-in: band energies of 4 segments, hashed text vectors (d=8)."""

    sample_rate = 8000

    def __init__(self):
        self.audio_calls = 0
        self.lengths = []

    def embed_audio(self, waveforms):
        self.audio_calls += len(waveforms)
        self.lengths.extend(len(w) for w in waveforms)
        fine = []
        for w in waveforms:
            w = np.resize(np.asarray(w, dtype=np.float64), 400)
            segments = []
            for seg in np.split(w, 4):
                spectrum = np.abs(np.fft.rfft(seg)) ** 2
                bands = np.array([b.sum() for b in np.array_split(spectrum, 8)])
                segments.append(np.log(bands + 1e-6))
            fine.append(segments)
        fine = torch.tensor(np.array(fine), dtype=torch.float32)
        fine = fine - fine.mean(dim=-1, keepdim=True)
        return fine.mean(dim=1), fine

    def embed_text(self, texts):
        out = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=8) for t in texts]
        return torch.tensor(np.array(out), dtype=torch.float32)


@pytest.fixture(scope="module")
def sounds():
    X, y = make_sounds(n_classes=3, n_per_class=6, duration=0.1, sample_rate=8000,
                       random_state=0)
    return X[::2], y[::2], X[1::2], y[1::2]


def _adapter(**params):
    params.setdefault("max_epochs", 3)
    return MultiGrainedCLAPAdapter(TinyBackbone(), sample_rate=8000, random_state=0,
                                   **params)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----------------------------------------------------------- component scores
def test_coarse_cache_matches_hand_computation():
    q = np.array([[1.0, 0.0], [0.6, 0.8]])
    k = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1])
    expected = np.zeros((2, 2))
    for i in range(2):
        for j in range(3):
            cos = q[i] @ k[j] / np.linalg.norm(q[i]) / np.linalg.norm(k[j])
            expected[i, labels[j]] += np.exp(-5.0 * (1 - cos))
    values = torch.nn.functional.one_hot(torch.tensor(labels), 2).double()
    got = coarse_cache_scores(torch.tensor(q), torch.tensor(k), values, beta=5.0)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_fine_cache_matches_pot_per_pair():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 5, 4))
    labels = np.array([1, 0, 1])
    expected = np.zeros((2, 2))
    for i in range(2):
        for j in range(3):
            cos = _unit(q[i]) @ _unit(k[j]).T
            plan = ot.sinkhorn(np.full(3, 1 / 3), np.full(5, 1 / 5), 1 - cos, 0.1,
                               stopThr=1e-11, numItermax=10000)
            expected[i, labels[j]] += np.exp(-2.0 * (1 - np.sum(plan * cos)))
    values = torch.nn.functional.one_hot(torch.tensor(labels), 2).double()
    got = fine_cache_scores(torch.tensor(q), torch.tensor(k), values, beta=2.0, reg=0.1,
                            max_iter=5000, tol=1e-11)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


def test_late_weighted_fusion_matches_hand_computation_with_padding():
    rng = np.random.default_rng(1)
    fused, expl = rng.normal(size=(2, 4)), rng.normal(size=(2, 3, 4))
    mask = np.array([[True, True, True], [True, True, False]])
    expected = np.zeros((2, 2))
    for i in range(2):
        for c in range(2):
            cos = np.array([_unit(fused[i]) @ _unit(e) for e in expl[c][mask[c]]])
            w = np.exp(cos) / np.exp(cos).sum()
            expected[i, c] = np.sum(w * cos)
    got = late_weighted_scores(torch.tensor(fused), torch.tensor(expl), torch.tensor(mask))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_fine_contrast_matches_pot_with_padding():
    rng = np.random.default_rng(2)
    seg, expl = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    mask = np.array([[True, True, True], [True, False, False]])
    expected = np.zeros((2, 2))
    for i in range(2):
        for c in range(2):
            e = expl[c][mask[c]]
            cos = _unit(seg[i]) @ _unit(e).T
            plan = ot.sinkhorn(np.full(3, 1 / 3), np.full(len(e), 1 / len(e)), 1 - cos, 0.3,
                               stopThr=1e-11, numItermax=10000)
            expected[i, c] = np.sum(plan * cos)
    got = fine_contrast_scores(torch.tensor(seg), torch.tensor(expl), torch.tensor(mask),
                               reg=0.3, max_iter=5000, tol=1e-11)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


def test_module_total_is_alpha_cache_plus_contrast():
    torch.manual_seed(0)
    module = MultiGrainedAdapter(
        support_coarse=torch.randn(4, 6), support_fine=torch.randn(4, 3, 6),
        support_labels=torch.tensor([0, 1, 0, 1]), explanations=torch.randn(2, 2, 6),
        explanation_mask=torch.ones(2, 2, dtype=torch.bool), alpha=0.7)
    coarse, fine = torch.randn(5, 6), torch.randn(5, 3, 6)
    parts = module.component_scores(coarse, fine)
    assert set(parts) == {"coarse_cache", "fine_cache", "coarse_contrast", "fine_contrast"}
    expected = 0.7 * (parts["coarse_cache"] + parts["fine_cache"]) \
        + parts["coarse_contrast"] + parts["fine_contrast"]
    torch.testing.assert_close(module(coarse, fine), expected)
    # Untrained fusion layers are the identity: contrast = zero-shot cosine scores.
    torch.testing.assert_close(parts["coarse_contrast"],
                               late_weighted_scores(coarse, module.explanations))


# ------------------------------------------------------------------ estimator
def test_fit_predict_shapes_and_proba(sounds):
    Xs, ys, Xq, _ = sounds
    clf = _adapter().fit(Xs, ys)
    proba = clf.predict_proba(Xq)
    assert proba.shape == (len(Xq), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(Xq))
    assert clf.n_support_ == len(Xs) and clf.descriptions_[0][0].endswith(".")


@pytest.mark.parametrize("name", ["coarse_cache", "fine_cache", "coarse_contrast",
                                  "fine_contrast"])
def test_each_switch_changes_the_scores(sounds, name):
    Xs, ys, Xq, _ = sounds
    full = _adapter().fit(Xs, ys)
    without = _adapter(**{name: False}).fit(Xs, ys)
    assert name in full.component_scores(Xq)
    assert name not in without.component_scores(Xq)
    assert not np.allclose(full.decision_function(Xq), without.decision_function(Xq))


def test_all_components_off_is_an_error(sounds):
    Xs, ys, _, _ = sounds
    with pytest.raises(ValueError, match="switched off"):
        _adapter(coarse_cache=False, fine_cache=False, coarse_contrast=False,
                 fine_contrast=False).fit(Xs, ys)


def test_cache_only_model_is_the_hand_computed_cache(sounds):
    Xs, ys, Xq, _ = sounds
    clf = _adapter(coarse_contrast=False, fine_contrast=False, alpha=2.0).fit(Xs, ys)
    backbone = clf.backbone_
    q, _ = backbone.embed_audio(list(Xq))
    k, _ = backbone.embed_audio(list(Xs))
    onehot = (ys[:, None] == clf.classes_[None]).astype(np.float64)
    cos = _unit(q.double().numpy()) @ _unit(k.double().numpy()).T
    expected = 2.0 * np.exp(-5.0 * (1 - cos)) @ onehot
    np.testing.assert_allclose(clf.component_scores(Xq)["coarse_cache"] * 2.0, expected,
                               rtol=1e-4)


def test_training_moves_the_fusion_layers_and_only_them(sounds):
    Xs, ys, _, _ = sounds
    untrained = _adapter(max_epochs=0).fit(Xs, ys).net_.module_
    trained = _adapter(max_epochs=5, lr=1e-2).fit(Xs, ys).net_.module_
    for name in ("coarse_fusion.weight", "fine_fusion.weight", "fine_linear.weight"):
        assert not torch.allclose(untrained.state_dict()[name], trained.state_dict()[name])
    for name in ("support_coarse", "support_fine", "explanations"):
        torch.testing.assert_close(untrained.state_dict()[name], trained.state_dict()[name])


def test_backbone_runs_once_per_clip_per_fit(sounds):
    Xs, ys, _, _ = sounds
    clf = _adapter(max_epochs=6).fit(Xs, ys)
    assert clf.backbone_.audio_calls == len(Xs)


def test_same_seed_same_model(sounds):
    Xs, ys, Xq, _ = sounds
    a = _adapter(lr=1e-2, batch_size=4).fit(Xs, ys).predict_proba(Xq)
    b = _adapter(lr=1e-2, batch_size=4).fit(Xs, ys).predict_proba(Xq)
    np.testing.assert_array_equal(a, b)


def test_resamples_to_the_backbone_rate(sounds):
    Xs, ys, _, _ = sounds  # 800 samples at 8 kHz, declared as 16 kHz -> 400 at 8 kHz
    clf = MultiGrainedCLAPAdapter(TinyBackbone(), sample_rate=16000, max_epochs=0)
    clf.fit(Xs, ys)
    assert set(clf.backbone_.lengths) == {400}


# ----------------------------------------------------------- text and captions
def test_custom_descriptions_are_used_and_change_scores(sounds):
    Xs, ys, Xq, _ = sounds
    descriptions = {label: [f"{label} explained", "another sentence"] for label in ys}
    clf = _adapter(class_descriptions=descriptions).fit(Xs, ys)
    assert clf.descriptions_[0] == descriptions[clf.classes_[0]]
    default = _adapter().fit(Xs, ys)
    assert not np.allclose(clf.decision_function(Xq), default.decision_function(Xq))


def test_uneven_description_counts(sounds):
    Xs, ys, Xq, _ = sounds
    labels = np.unique(ys)
    descriptions = {labels[0]: ["one"], labels[1]: ["a", "b", "c"], labels[2]: "single"}
    proba = _adapter(class_descriptions=descriptions).fit(Xs, ys).predict_proba(Xq)
    assert np.isfinite(proba).all()


@pytest.mark.parametrize("bad, match", [
    ("missing", "no entry for classes"),
    ("empty", "is empty"),
    ("blank", "non-empty string"),
])
def test_description_errors(sounds, bad, match):
    Xs, ys, _, _ = sounds
    descriptions = default_descriptions(np.unique(ys))
    first = next(iter(descriptions))
    if bad == "missing":
        del descriptions[first]
    elif bad == "empty":
        descriptions[first] = []
    else:
        descriptions[first] = ["fine", "   "]
    with pytest.raises(ValueError, match=match):
        _adapter(class_descriptions=descriptions).fit(Xs, ys)


def test_captions_strings_and_captioner(sounds):
    Xs, ys, Xq, _ = sounds
    caps_s = [f"a sound number {i}" for i in range(len(Xs))]
    caps_q = [f"a query sound {i}" for i in range(len(Xq))]
    with_caps = _adapter().fit(Xs, ys, captions=caps_s)
    assert with_caps.uses_captions_
    assert with_caps.net_.module_.caption_dim == 8
    scores = with_caps.decision_function(Xq, captions=caps_q)
    no_caps = _adapter().fit(Xs, ys)
    assert not no_caps.uses_captions_
    assert not np.allclose(scores, no_caps.decision_function(Xq))
    with pytest.raises(ValueError, match="uses captions"):
        with_caps.predict(Xq)
    with pytest.raises(ValueError, match="one per clip"):
        with_caps.predict(Xq, captions=caps_q[:-1])
    ignored = _adapter(use_captions=False).fit(Xs, ys, captions=caps_s)
    assert not ignored.uses_captions_

    seen = []

    def captioner(clips, sample_rate):
        seen.append((len(clips), sample_rate))
        return [f"loud {np.abs(c).max():.1f}" for c in clips]

    auto = _adapter(captioner=captioner).fit(Xs, ys)
    auto.predict(Xq)
    assert auto.uses_captions_ and seen == [(len(Xs), 8000), (len(Xq), 8000)]


def test_zero_shot_without_support():
    descriptions = {"dog": ["a dog barks"], "rain": ["rain falls on a roof"]}
    clf = MultiGrainedCLAPAdapter(TinyBackbone(), sample_rate=8000,
                                  class_descriptions=descriptions).fit(None, None)
    assert clf.n_support_ == 0 and list(clf.classes_) == ["dog", "rain"]
    X, _ = make_sounds(n_classes=2, n_per_class=2, duration=0.1, sample_rate=8000,
                       random_state=1)
    scores = clf.component_scores(X)
    assert set(scores) == {"coarse_contrast", "fine_contrast"}
    assert set(clf.predict(X)) <= {"dog", "rain"}
    with pytest.raises(ValueError, match="needs coarse_contrast or fine_contrast"):
        MultiGrainedCLAPAdapter(TinyBackbone(), class_descriptions=descriptions,
                                coarse_contrast=False, fine_contrast=False).fit(None, None)
    with pytest.raises(ValueError, match="needs class_descriptions"):
        MultiGrainedCLAPAdapter(TinyBackbone()).fit(None, None)


# ---------------------------------------------------------------------- errors
def test_unknown_backbone_name(sounds):
    Xs, ys, _, _ = sounds
    with pytest.raises(ValueError, match="backbone"):
        MultiGrainedCLAPAdapter("clap-9000").fit(Xs, ys)


def test_missing_msclap_weights_say_where_to_put_them(sounds, tmp_path, monkeypatch):
    Xs, ys, _, _ = sounds
    monkeypatch.setenv("SKFEWAUDIO_MSCLAP_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError) as info:
        MultiGrainedCLAPAdapter().fit(Xs, ys)  # default backbone: msclap-2022
    message = str(info.value)
    assert "CLAP_weights_2022.pth" in message and str(tmp_path) in message
    assert "weights=" in message
    with pytest.raises(FileNotFoundError, match="no such file"):
        MultiGrainedCLAPAdapter(weights=str(tmp_path / "nope.pth")).fit(Xs, ys)


def test_backbone_shape_errors(sounds):
    class Broken(TinyBackbone):
        def embed_audio(self, waveforms):
            coarse, fine = super().embed_audio(waveforms)
            return coarse, fine[:, 0]

    Xs, ys, _, _ = sounds
    with pytest.raises(ValueError, match="expected \\(n, d\\) and \\(n, T, d\\)"):
        MultiGrainedCLAPAdapter(Broken(), max_epochs=0).fit(Xs, ys)


# ----------------------------------------------------------------- persistence
def test_joblib_round_trip_gives_identical_predictions(sounds, tmp_path):
    Xs, ys, Xq, _ = sounds
    clf = _adapter(lr=1e-2).fit(Xs, ys)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(clf.predict_proba(Xq), loaded.predict_proba(Xq))


def test_clone_set_params_and_grid_search(sounds):
    Xs, ys, Xq, yq = sounds
    clf = _adapter(alpha=2.0)
    cloned = clone(clf)
    assert cloned.get_params()["alpha"] == 2.0
    cloned.set_params(beta=1.0, fine_cache=False)
    assert cloned.beta == 1.0 and not cloned.fine_cache
    X = np.concatenate([Xs, Xq])
    y = np.concatenate([ys, yq])
    search = GridSearchCV(_adapter(max_epochs=1), {"beta": [1.0, 5.0]}, cv=2).fit(X, y)
    assert search.best_params_["beta"] in (1.0, 5.0)


# ------------------------------------------------------------ offline backbone
def test_offline_backbone_follows_the_protocol():
    backbone = RandomAudioMiniLMBackbone(clip_seconds=0.5)
    assert isinstance(backbone, AudioTextBackbone)
    coarse, fine = backbone.embed_audio([np.zeros(100, np.float32) + 0.1,
                                         np.random.default_rng(0).normal(size=9000)])
    assert coarse.shape == (2, 384) and fine.shape[0] == 2 and fine.shape[2] == 384
    torch.testing.assert_close(coarse, fine.mean(dim=1))
    text = backbone.embed_text(["a dog barks", "a cat meows", "a dog barks"])
    assert text.shape == (3, 384)
    torch.testing.assert_close(text[0], text[2])
    # MiniLM is a real sentence model: paraphrases are closer than unrelated text.
    para = backbone.embed_text(["a dog is barking loudly", "stock prices fell today"])
    assert float(text[0] @ para[0]) > float(text[0] @ para[1]) + 0.2


def test_offline_backbone_cache_separates_synthetic_sounds():
    X, y = make_sounds(n_classes=4, n_per_class=6, duration=0.5, random_state=0)
    clf = MultiGrainedCLAPAdapter("random-audio-minilm", coarse_contrast=False,
                                  fine_contrast=False).fit(X[::2], y[::2])
    assert clf.score(X[1::2], y[1::2]) >= 0.75
    # Pickled by name: the backbone is rebuilt from its seed, predictions are unchanged.
    restored = pickle.loads(pickle.dumps(clf))
    assert "backbone_" not in restored.__dict__
    np.testing.assert_array_equal(restored.predict_proba(X[1::2]), clf.predict_proba(X[1::2]))
