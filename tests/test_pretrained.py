"""PretrainedEncoder on tiny random models of the real transformers classes, offline.

Each model (AST, wav2vec2, Whisper, CLAP) is built with seeded random weights and
saved with ``save_pretrained`` into a temporary folder, then loaded through the
public API exactly as a hub download would be. Their embeddings mean nothing; the
tests check loading, resampling, windowing, pooling, batching, caching, pickling and
errors.
"""

import pickle

import joblib
import librosa
import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skfewaudio import PretrainedEncoder, PrototypeClassifier, evaluate_episodes  # noqa: E402
from skfewaudio._hf_audio import minilm_path  # noqa: E402
from skfewaudio import _hf_audio  # noqa: E402
from skfewaudio.pretrained import _encoder  # noqa: E402
from skfewaudio.pretrained._testing import (  # noqa: E402
    TINY_MODELS,
    build_tiny_model,
    hub_reachable,
)

KINDS = sorted(TINY_MODELS)
HIDDEN = 32  # hidden size of every tiny model


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: str(build_tiny_model(kind, root / kind)) for kind in KINDS}


@pytest.fixture(scope="module")
def clips():
    """Clips of different lengths at 16 kHz, from 10 ms to 2.6 s."""
    rng = np.random.default_rng(0)
    lengths = [160, 4000, 16000, 16240, 25000, 41600]
    t = [np.arange(n) / 16000 for n in lengths]
    return [(0.3 * np.sin(2 * np.pi * (200 + 150 * i) * ti)
             + 0.05 * rng.standard_normal(len(ti))).astype(np.float32)
            for i, ti in enumerate(t)]


def _encoder_for(models, kind, **params):
    return PretrainedEncoder(models[kind], **params)


# ------------------------------------------------------------------ embeddings
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_shapes_and_determinism(models, clips, kind, pooling):
    encoder = _encoder_for(models, kind, pooling=pooling)
    first = encoder.transform(clips)
    assert first.shape == (len(clips), HIDDEN) and first.dtype == np.float32
    assert np.isfinite(first).all()
    assert len({row.tobytes() for row in first}) == len(clips)  # clips differ
    np.testing.assert_array_equal(clone(encoder).transform(clips), first)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_and_single_clip_results_agree(models, clips, kind):
    encoder = _encoder_for(models, kind, batch_size=8)
    together = encoder.transform(clips)
    alone = np.concatenate([encoder.transform([clip]) for clip in clips])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    one_by_one = encoder.set_params(batch_size=1).transform(clips[::-1])[::-1]
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-5)


def test_two_d_array_and_list_agree(models, clips):
    X = np.stack([clip[:4000] for clip in clips[1:]])
    encoder = _encoder_for(models, "wav2vec2")
    np.testing.assert_allclose(encoder.transform(X), encoder.transform(list(X)), atol=1e-6)


def test_fit_reads_the_rate_and_window_without_loading_weights(models, clips):
    _hf_audio._LOADED.clear()
    encoder = _encoder_for(models, "wav2vec2").fit(clips)
    assert encoder.model_sample_rate_ == 8000 and encoder.window_seconds_ == 10.0
    assert not _hf_audio._LOADED  # no weights yet
    encoder.transform(clips[:1])
    assert len(_hf_audio._LOADED) == 1
    assert _encoder_for(models, "ast").fit(clips).window_seconds_ == pytest.approx(1.015)
    assert _encoder_for(models, "clap").fit(clips).model_sample_rate_ == 48000


def test_resamples_to_the_model_rate(models, clips):
    """The tiny wav2vec2 runs at 8 kHz: 16 kHz input is resampled with soxr first."""
    at_16k = _encoder_for(models, "wav2vec2", sample_rate=16000).transform(clips)
    resampled = [librosa.resample(c, orig_sr=16000, target_sr=8000, res_type="soxr_hq")
                 for c in clips]
    at_8k = _encoder_for(models, "wav2vec2", sample_rate=8000).transform(resampled)
    np.testing.assert_allclose(at_16k, at_8k, atol=1e-6)
    wrong = _encoder_for(models, "wav2vec2", sample_rate=8000).transform(clips)
    assert not np.allclose(wrong, at_16k, atol=1e-3)


@pytest.mark.parametrize("kind", ["ast", "clap"])
def test_long_clip_is_pooled_over_windows_ending_at_the_clip_end(models, clips, kind):
    rate = {"ast": 16000, "clap": 48000}[kind]  # the model's rate: no resampling
    encoder = _encoder_for(models, kind, sample_rate=rate).fit(clips)
    window = int(round(encoder.window_seconds_ * rate))
    clip = np.tile(clips[2], 10)[: int(2.5 * window)]
    starts = [0, window, len(clip) - window]  # the last window ends at the clip's end
    pieces = [clip[s:s + window] for s in starts]
    for pooling, combine in (("mean", np.mean), ("max", np.max)):
        encoder.set_params(pooling=pooling)
        np.testing.assert_allclose(encoder.transform([clip])[0],
                                   combine(encoder.transform(pieces), axis=0), atol=1e-5)


def test_window_seconds(models, clips):
    long = np.concatenate(clips)
    default = _encoder_for(models, "wav2vec2").transform([long])
    short = _encoder_for(models, "wav2vec2", window_seconds=0.5).transform([long])
    assert not np.allclose(default, short, atol=1e-4)
    with pytest.raises(ValueError, match="longer than the input"):
        _encoder_for(models, "ast", window_seconds=5.0).fit(clips)


def test_whisper_pools_only_the_frames_that_hold_audio(models, clips):
    """Mean of the encoder frames covering the clip, computed with transformers directly."""
    clip = clips[1]  # 0.25 s of a 2 s Whisper input
    ours = _encoder_for(models, "whisper").transform([clip])[0]
    extractor = transformers.AutoFeatureExtractor.from_pretrained(models["whisper"])
    model = transformers.WhisperModel.from_pretrained(models["whisper"]).eval()
    features = extractor([clip], sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        frames = model.encoder(features).last_hidden_state[0]
    n_audio = int(np.ceil(len(frames) * len(clip) / 32000))
    np.testing.assert_allclose(ours, frames[:n_audio].mean(0).numpy(), atol=1e-5)
    assert not np.allclose(ours, frames.mean(0).numpy(), atol=1e-3)


def test_pooler_is_the_models_own_clip_embedding(models, clips):
    clip = clips[2]
    ast = _encoder_for(models, "ast", pooling="pooler").transform([clip])[0]
    extractor = transformers.AutoFeatureExtractor.from_pretrained(models["ast"])
    model = transformers.ASTModel.from_pretrained(models["ast"]).eval()
    with torch.no_grad():
        expected = model(**extractor([clip], sampling_rate=16000, return_tensors="pt"))
    np.testing.assert_allclose(ast, expected.pooler_output[0].numpy(), atol=1e-5)
    clap = _encoder_for(models, "clap", pooling="pooler").transform([clip])
    assert clap.shape == (1, 16)  # CLAP's projection: the audio-text space
    with pytest.raises(ValueError, match="has no pooled output"):
        _encoder_for(models, "wav2vec2", pooling="pooler").transform([clip])


def test_layer_selects_a_hidden_state(models, clips):
    clips = clips[:4]
    last = _encoder_for(models, "wav2vec2").transform(clips)
    np.testing.assert_allclose(_encoder_for(models, "wav2vec2", layer=2).transform(clips),
                               last, atol=1e-6)  # 2 blocks: hidden_states[2] is the output
    assert not np.allclose(_encoder_for(models, "wav2vec2", layer=0).transform(clips), last)
    with pytest.raises(ValueError, match="layer=7 is out of range.*3 hidden states"):
        _encoder_for(models, "wav2vec2", layer=7).transform(clips)


# ---------------------------------------------------------------------- cache
def _count_model_calls(monkeypatch):
    calls = []
    real = _encoder.window_vectors

    def counting(model, windows, **kwargs):
        calls.append(len(windows))
        return real(model, windows, **kwargs)

    monkeypatch.setattr(_encoder, "window_vectors", counting)
    return calls


def test_cache_second_run_does_not_call_the_model(models, clips, tmp_path, monkeypatch):
    calls = _count_model_calls(monkeypatch)
    first = _encoder_for(models, "ast", cache=tmp_path).transform(clips)
    assert sum(calls) >= len(clips)
    calls.clear()
    again = _encoder_for(models, "ast", cache=str(tmp_path)).transform(clips[::-1])[::-1]
    assert calls == []
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(first, _encoder_for(models, "ast").transform(clips), atol=1e-6)
    # One new clip: only it is embedded.
    calls.clear()
    new = clips[0] * 0.5
    _encoder_for(models, "ast", cache=tmp_path).transform(clips + [new])
    assert sum(calls) == 1
    # Other settings that change the embedding are another entry.
    calls.clear()
    _encoder_for(models, "ast", cache=tmp_path, pooling="max").transform(clips[:2])
    assert sum(calls) == 2


def test_cache_layout_and_keys(models, clips, tmp_path):
    _encoder_for(models, "ast", cache=tmp_path).transform(clips)
    _encoder_for(models, "ast", cache=tmp_path, sample_rate=8000).transform(clips)
    folders = sorted(p for p in tmp_path.iterdir())
    assert len(folders) == 1  # one model and settings; the input rate is in the clip key
    settings = (folders[0] / "settings.json").read_text()
    assert '"model": "sha256:' in settings and '"pooling": "mean"' in settings
    assert len(list(folders[0].glob("??/*.npy"))) == 2 * len(clips)
    stored = np.load(next(folders[0].glob("??/*.npy")))
    assert stored.shape == (HIDDEN,) and stored.dtype == np.float32


def test_cache_key_follows_the_model_files(models, clips, tmp_path):
    """A copy of a model folder shares its entries; other weights get their own."""
    import shutil

    copy = shutil.copytree(models["ast"], tmp_path / "copy")
    other = build_tiny_model("ast", tmp_path / "other", seed=1)
    cache = tmp_path / "cache"
    for folder in (models["ast"], copy, other):
        PretrainedEncoder(str(folder), cache=cache).transform(clips[:1])
    assert len([p for p in cache.iterdir()]) == 2


# ---------------------------------------------------------- sklearn behaviour
def test_pickle_and_joblib_round_trip_reload_the_weights(models, clips, tmp_path):
    encoder = _encoder_for(models, "clap").fit(clips)
    expected = encoder.transform(clips)
    blob = pickle.dumps(encoder)
    assert len(blob) < 2000  # parameters only: the weights are never pickled
    _hf_audio._LOADED.clear()
    np.testing.assert_array_equal(pickle.loads(blob).transform(clips), expected)
    joblib.dump(encoder, tmp_path / "encoder.joblib")
    _hf_audio._LOADED.clear()
    np.testing.assert_array_equal(joblib.load(tmp_path / "encoder.joblib").transform(clips),
                                  expected)


def test_skfewaudio_save_stores_the_model_name_not_its_weights(models, sounds, tmp_path):
    import skfewaudio

    X, y = sounds
    clf = PrototypeClassifier(encoder=_encoder_for(models, "ast"), metric="cosine").fit(X, y)
    skfewaudio.save(clf, tmp_path / "frogs.safetensors")
    assert (tmp_path / "frogs.safetensors").stat().st_size < 20_000
    _hf_audio._LOADED.clear()
    loaded = skfewaudio.load(tmp_path / "frogs.safetensors")
    assert loaded.encoder_.get_params() == clf.encoder_.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_pipeline_clone_and_grid_search(models, sounds, tmp_path):
    X, y = sounds[0][:40], sounds[1][:40]  # 4 classes
    pipe = Pipeline([("embed", _encoder_for(models, "ast", cache=tmp_path)),
                     ("probe", LogisticRegression(max_iter=500))])
    assert pipe.fit(X, y).predict(X).shape == (len(X),)
    assert clone(pipe).get_params()["embed__model"] == models["ast"]
    search = GridSearchCV(pipe, {"embed__pooling": ["mean", "max"]}, cv=2).fit(X, y)
    assert search.best_params_["embed__pooling"] in ("mean", "max")


def test_prototype_classifier_embeds_each_clip_once_per_evaluation(models, sounds,
                                                                   monkeypatch):
    X, y = sounds
    clf = PrototypeClassifier(encoder=_encoder_for(models, "ast"), metric="cosine")
    assert set(clf.fit(X[::2], y[::2]).predict(X[1::2])) <= set(y)
    calls = _count_model_calls(monkeypatch)
    result = evaluate_episodes(clf, X, y, n_way=5, n_shot=1, n_episodes=50, random_state=0)
    assert result["embedded_once"] and sum(calls) == len(X)


def test_event_detector_takes_the_encoder_as_it_is(models):
    from skfewaudio.detection import FewShotEventDetector, make_event_recording

    x, events = make_event_recording(12.0, n_events=6, n_distractors=2, sample_rate=16000,
                                     random_state=0)
    encoder = _encoder_for(models, "ast", batch_size=64)
    detector = FewShotEventDetector(encoder, random_state=0).fit(x, events)
    assert detector.encoder_ is encoder  # frozen: used as it is, never refitted
    found = detector.predict(x)
    assert set(found.dtype.names) >= {"onset", "offset"}


def test_cli_evaluate_with_an_encoder_and_its_cache(models, sounds, tmp_path, monkeypatch,
                                                   capsys):
    import json

    import soundfile as sf

    from skfewaudio.cli import main

    X, y = sounds
    for i, (clip, label) in enumerate(zip(X, y)):
        (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / "data" / label / f"{i}.wav", clip, 16000)
    command = ["evaluate", str(tmp_path / "data"), "--encoder", models["ast"],
               "--cache", str(tmp_path / "cache"), "--n-way", "3", "--n-shot", "1",
               "--episodes", "20", "--output", str(tmp_path / "r.json")]
    calls = _count_model_calls(monkeypatch)
    assert main(command) == 0 and sum(calls) == len(X)
    first = json.loads((tmp_path / "r.json").read_text())["results"]
    assert first[0]["method"] == models["ast"] and 0 <= first[0]["accuracy"] <= 1
    calls.clear()
    assert main(command) == 0 and calls == []  # every clip came from the cache
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["accuracy"] == \
        first[0]["accuracy"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    capsys.readouterr()
    assert main(command[:3] + ["nobody/none"] + command[4:]) == 2
    err = capsys.readouterr().err
    assert "\nskfewaudio: error: Could not load the pretrained model 'nobody/none'" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------- errors
def test_missing_hub_model_says_where_it_looked(clips, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError) as info:
        PretrainedEncoder("nobody/no-such-audio-model").fit(clips)
    message = str(info.value)
    assert "'nobody/no-such-audio-model'" in message and "HF_HUB_OFFLINE=1" in message
    assert _hf_audio._hub_cache() in message and "HF_HOME" in message
    assert "huggingface-cli download nobody/no-such-audio-model" in message


def test_a_failed_download_says_how_to_fail_at_once(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(_hf_audio, "_offline", lambda: False)
    message = str(_hf_audio._missing_model_error("a/b", None, OSError("no route\nmore")))
    assert "downloading it failed (OSError: no route; without internet, HF_HUB_OFFLINE=1" \
        in message


def test_missing_directory_and_empty_folder(clips, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PretrainedEncoder(str(tmp_path / "nope")).fit(clips)
    with pytest.raises(ValueError, match="holds no loadable transformers model"):
        PretrainedEncoder(str(tmp_path)).fit(clips)


def test_text_model_is_not_an_audio_model(clips):
    with pytest.raises(ValueError, match="'bert' model without an audio feature extractor"):
        PretrainedEncoder(minilm_path()).fit(clips)


def test_parameter_validation(models, clips):
    with pytest.raises(InvalidParameterError, match="pooling"):
        _encoder_for(models, "ast", pooling="median").transform(clips)
    with pytest.raises(ValueError, match="NaN"):
        _encoder_for(models, "ast").transform([np.full(100, np.nan, dtype=np.float32)])


@pytest.mark.network
@pytest.mark.skipif(not hub_reachable(), reason="needs the Hugging Face hub")
def test_a_real_hub_model(clips):
    encoder = PretrainedEncoder("hf-internal-testing/tiny-random-wav2vec2")
    embeddings = encoder.transform(clips)
    assert embeddings.shape[0] == len(clips) and np.isfinite(embeddings).all()
