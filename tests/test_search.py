"""EmbeddingStore: embed a corpus once, reopen, append, search by example."""

import json
import warnings

import numpy as np
import pytest
import soundfile as sf

from skfewaudio import MelStatistics
from skfewaudio.detection import make_event_recording
from skfewaudio.search import EmbeddingStore, embed_recording, window_starts

SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three 12 s recordings with target calls, and examples cut from a fourth."""
    root = tmp_path_factory.mktemp("corpus")
    events = {}
    for i in range(3):
        x, ev = make_event_recording(12, n_events=5, n_distractors=4, random_state=i)
        sf.write(root / f"rec{i}.wav", x, SR)
        events[str((root / f"rec{i}.wav").resolve())] = ev
    x, ev = make_event_recording(12, n_events=5, n_distractors=4, random_state=10)
    examples = [x[int(on * SR): int(off * SR)] for on, off, _ in ev[:3]]
    return root, events, examples


def _store(tmp_path, corpus, **kwargs):
    root, *_ = corpus
    store = EmbeddingStore.create(tmp_path / "store", window_seconds=0.3, **kwargs)
    store.add_recordings(sorted(root.glob("rec*.wav")))
    return store


def test_window_grid_covers_the_recording():
    np.testing.assert_array_equal(window_starts(10, 4, 2), [0, 2, 4, 6])
    np.testing.assert_array_equal(window_starts(11, 4, 2), [0, 2, 4, 6, 7])
    np.testing.assert_array_equal(window_starts(3, 4, 2), [0])


def test_file_read_in_blocks_equals_the_waveform(corpus, monkeypatch):
    root, *_ = corpus
    x, _ = sf.read(root / "rec0.wav", dtype="float32")
    encoder = MelStatistics().fit(x[:1][None])
    whole = embed_recording(x, encoder, sample_rate=SR, window_seconds=0.3, hop_seconds=0.15)
    monkeypatch.setattr("skfewaudio.search._corpus._BLOCK_SECONDS", 0.77)  # many blocks
    blocks = embed_recording(root / "rec0.wav", encoder, sample_rate=SR, window_seconds=0.3,
                             hop_seconds=0.15, batch_size=30)
    for a, b in zip(whole, blocks):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    starts, ends, _, duration = whole
    assert duration == 12.0 and ends[-1] == 12.0 and np.allclose(ends - starts, 0.3)


def test_a_file_at_another_rate_is_resampled(tmp_path):
    x, _ = make_event_recording(4, n_events=2, n_distractors=1, sample_rate=22050,
                                random_state=0)
    sf.write(tmp_path / "a.wav", x, 22050)
    starts, ends, Z, duration = embed_recording(
        tmp_path / "a.wav", MelStatistics().fit(np.ones((1, 1))), sample_rate=SR,
        window_seconds=0.5, hop_seconds=0.25)
    assert duration == pytest.approx(4.0, abs=1e-3) and len(Z) == len(starts) == 15


def test_store_on_disk_reopens_and_skips_files_it_has(tmp_path, corpus):
    root, *_ = corpus
    store = _store(tmp_path, corpus)
    header = json.loads((tmp_path / "store" / "header.json").read_text())
    assert header["n_windows"] == store.n_windows == 3 * 79
    assert [f["n_windows"] for f in header["files"]] == [79] * 3
    raw = np.memmap(tmp_path / "store" / "embeddings.f32", dtype="<f4", mode="r")
    np.testing.assert_array_equal(raw.reshape(-1, header["dim"]), store.embeddings)
    again = EmbeddingStore.open(tmp_path / "store")
    assert again.add_recordings(sorted(root.glob("rec*.wav"))) == 0
    x, _ = sf.read(root / "rec1.wav", dtype="float32")
    _, _, direct, _ = embed_recording(x, again.encoder, sample_rate=SR, window_seconds=0.3,
                                      hop_seconds=0.15)
    np.testing.assert_allclose(again.embeddings[79:158], direct, rtol=1e-5, atol=1e-5)
    assert again.windows["file"].tolist() == [0] * 79 + [1] * 79 + [2] * 79


def test_append_after_reopen_equals_one_pass(tmp_path, corpus):
    root, *_ = corpus
    files = sorted(root.glob("rec*.wav"))
    one = EmbeddingStore.create(tmp_path / "one", window_seconds=0.3)
    one.add_recordings(files)
    two = EmbeddingStore.create(tmp_path / "two", window_seconds=0.3)
    two.add_recordings(files[:1])
    with open(tmp_path / "two" / "embeddings.f32", "ab") as handle:  # an interrupted append
        handle.write(b"\0" * 100)
    EmbeddingStore.open(tmp_path / "two").add_recordings(files)
    two = EmbeddingStore.open(tmp_path / "two")
    np.testing.assert_array_equal(two.embeddings, one.embeddings)
    np.testing.assert_array_equal(two.windows, one.windows)
    np.testing.assert_allclose(two.center(), one.center())


def test_search_finds_the_calls_as_distinct_events(tmp_path, corpus):
    _, events, examples = corpus
    matches = _store(tmp_path, corpus).search(examples, k=10)
    assert len(matches) == 10 and matches[0]["score"] >= matches[-1]["score"]
    for m in matches:
        ev = events[m["file"]]
        assert np.any((ev["onset"] < m["end"]) & (ev["offset"] > m["start"]))
    for a in range(10):
        for b in range(a):
            same = matches[a]["file"] == matches[b]["file"]
            assert not (same and matches[a]["start"] < matches[b]["end"]
                        and matches[b]["start"] < matches[a]["end"])


def test_exact_scores_are_cosine_similarities_of_centred_embeddings(tmp_path, corpus):
    store = _store(tmp_path, corpus)
    rng = np.random.default_rng(0)
    examples = rng.standard_normal((3, store.header["dim"]))
    Z = np.asarray(store.embeddings, dtype=np.float64) - store.center()
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Q = examples - store.center()
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    expected = np.sort((Z @ Q.T).max(axis=1))[::-1][:15]
    found = store.search_embeddings(examples, k=15, aggregate="max", distinct=False)
    np.testing.assert_allclose([m["score"] for m in found], expected, rtol=1e-4)


def test_hnsw_index_agrees_with_exact_and_follows_appends(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((50, 32))
    store = EmbeddingStore.create(tmp_path / "s", window_seconds=1.0)
    for f in range(4):
        Z = centers[rng.integers(0, 50, 500)] + 0.3 * rng.standard_normal((500, 32))
        store.add_embeddings(f"file{f}", np.arange(500.0), np.arange(500.0) + 1, Z)
    queries = centers[:5] + 0.3 * rng.standard_normal((5, 32))
    exact = store.search_embeddings(queries, k=10, aggregate="max", distinct=False)
    approx = store.search_embeddings(queries, k=10, aggregate="max", distinct=False,
                                     index="hnsw")
    key = lambda ms: {(m["file"], m["start"]) for m in ms}  # noqa: E731
    assert len(key(exact) & key(approx)) >= 9
    assert json.loads((tmp_path / "s" / "index.json").read_text())["n_windows"] == 2000
    near = centers[:1] + 0.01 * rng.standard_normal((3, 32))
    store.add_embeddings("late", [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], near)
    found = EmbeddingStore.open(tmp_path / "s").search_embeddings(
        centers[:1], k=3, index="hnsw", distinct=False)
    assert {m["file"] for m in found} == {"late"}
    assert json.loads((tmp_path / "s" / "index.json").read_text())["n_windows"] == 2003


def test_store_errors_say_what_to_do(tmp_path, corpus):
    store = EmbeddingStore.create(tmp_path / "s")
    with pytest.raises(ValueError, match="holds no windows yet"):
        store.search_embeddings(np.ones((1, 256)))
    with pytest.raises(FileExistsError, match="is not empty"):
        EmbeddingStore.create(tmp_path / "s")
    with pytest.raises(FileNotFoundError, match="holds no embedding store"):
        EmbeddingStore.open(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not with MelStatistics"):
        EmbeddingStore.open(tmp_path / "s", encoder=MelStatistics(n_mels=64))
    store.add_embeddings("a", [0.0], [1.0], np.ones((1, 256)))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        store.search_embeddings(np.ones((1, 256)), k=0)
    with pytest.raises(ValueError, match="has 3 features but the store holds 256|"
                                         "embeddings have 3 features"):
        store.add_embeddings("b", [0.0], [1.0], np.ones((1, 3)))


def test_unreadable_recordings_are_listed_after_the_others_are_added(tmp_path, corpus):
    root, *_ = corpus
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.wav").write_bytes(b"RIFF garbage")
    sf.write(bad / "empty.wav", np.zeros(0, np.float32), SR)
    files = [bad / "broken.wav", *sorted(root.glob("rec*.wav")), bad / "empty.wav"]
    store = EmbeddingStore.create(tmp_path / "s", window_seconds=0.3)
    with pytest.raises(ValueError, match=r"2 files to embed could not be read") as info:
        store.add_recordings(files, n_jobs=2)
    message = str(info.value)
    assert "broken.wav: Error opening" in message and "empty.wav: the file holds no samples" \
        in message and "the other 3 recordings." in message
    assert len(EmbeddingStore.open(tmp_path / "s").files) == 3  # nothing read was lost
    with pytest.warns(UserWarning, match="They were skipped"):
        assert store.add_recordings(files, on_error="warn") == 0  # the two are tried again
    with pytest.raises(ValueError, match="on_error must be"):
        store.add_recordings(files, on_error="ignore")


def test_a_non_finite_sample_is_named_with_its_time_in_the_file(tmp_path):
    from skfewaudio.search._corpus import UnreadableRecording, read_blocks

    samples = np.zeros(SR, np.float32)
    samples[2500] = np.inf  # in the second 0.1 s block
    sf.write(tmp_path / "rec.wav", samples, SR, subtype="FLOAT")
    with pytest.raises(UnreadableRecording, match=r"rec.wav: the file holds an infinite "
                                                  r"value at sample 2500 \(0.16 s\)"):
        list(read_blocks(tmp_path / "rec.wav", SR, block_seconds=0.1))


def test_the_default_encoder_is_the_classifiers_and_is_rebuilt_on_open(tmp_path, corpus):
    from skfewaudio import SpectralStatistics

    store = _store(tmp_path, corpus)
    assert isinstance(store.encoder, SpectralStatistics)
    again = EmbeddingStore.open(tmp_path / "store")
    assert repr(again.encoder) == repr(store.encoder)
    _, _, examples = corpus
    np.testing.assert_array_equal(again.embed_examples(examples),
                                  store.embed_examples(examples))
    fitted = SpectralStatistics(standardize="fit").fit(examples)  # learned from clips
    EmbeddingStore.create(tmp_path / "fitted", fitted, window_seconds=0.3)
    with pytest.raises(ValueError, match="pass it as encoder="):
        EmbeddingStore.open(tmp_path / "fitted")


def test_a_trained_encoder_must_be_given_again(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    encoder = make_pipeline(MelStatistics(), StandardScaler()).fit(
        np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32))
    EmbeddingStore.create(tmp_path / "s", encoder)
    with pytest.raises(ValueError, match="pass it as encoder="):
        EmbeddingStore.open(tmp_path / "s")
    assert EmbeddingStore.open(tmp_path / "s", encoder=encoder).encoder is encoder


def test_missing_faiss_is_one_clear_error(tmp_path, monkeypatch):
    import sys

    store = EmbeddingStore.create(tmp_path / "s")
    store.add_embeddings("a", [0.0, 1.0], [1.0, 2.0], np.eye(2, 256))
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install 'skfewaudio\[search\]'"):
        store.search_embeddings(np.ones((1, 256)), index="hnsw")
    assert len(store.search_embeddings(np.ones((1, 256)), k=1, index="auto")) == 1


class _ChattyEncoder(MelStatistics):
    """Warns on every call, as a network does about windows shorter than its own."""

    def transform(self, X):
        warnings.warn("these windows are short", UserWarning)
        return super().transform(X)


def test_an_encoders_warning_is_shown_once_per_corpus_not_per_batch(corpus, tmp_path):
    root, _, examples = corpus
    encoder = _ChattyEncoder().fit(examples[:1])
    store = EmbeddingStore.create(tmp_path / "store", encoder, window_seconds=0.3)
    with pytest.warns(UserWarning) as caught:
        store.add_recordings(sorted(root.glob("rec*.wav")), batch_size=16)  # 30+ calls
        store.search(examples, k=3)  # one call per example clip
    assert [str(w.message) for w in caught] == ["these windows are short"] * 2
