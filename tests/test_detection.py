"""FewShotEventDetector: detection quality, streaming, input errors, sklearn behaviour."""

import io
import pickle

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfewaudio.detection import (
    EVENT_DTYPE,
    FewShotEventDetector,
    adaptive_window_seconds,
    as_event_table,
    event_f_measure,
    events_to_records,
    make_event_recording,
    read_events_csv,
    scores_to_events,
    write_events_csv,
)
from skfewaudio.detection._recording import Recording
from skfewaudio.features import MelStatistics

SR = 16000


@pytest.fixture(scope="module")
def recording():
    return make_event_recording(40.0, n_events=16, n_distractors=8, sample_rate=SR,
                                snr_db=10.0, random_state=0)


@pytest.fixture(scope="module")
def fitted(recording):
    x, events = recording
    return FewShotEventDetector(random_state=0).fit(x, events)


# ---------------------------------------------------------------- detection
@pytest.mark.parametrize("seed", [0, 1])
def test_clearly_separated_events_are_found(seed):
    x, events = make_event_recording(40.0, n_events=16, n_distractors=8, sample_rate=SR,
                                     snr_db=10.0, random_state=seed)
    predicted = FewShotEventDetector(random_state=0).fit_predict(x, events)
    scores = event_f_measure(events, predicted)
    assert scores["per_file"]["recording"]["n_reference"] == 11
    assert scores["f_measure"] >= 0.9
    # Onsets and offsets are close to the truth, not just overlapping.
    truth = events[5:]
    for event in predicted:
        nearest = truth[np.argmin(np.abs(truth["onset"] - event["onset"]))]
        assert abs(event["onset"] - nearest["onset"]) < 0.2
        assert abs(event["offset"] - nearest["offset"]) < 0.2


def test_events_come_after_the_last_shot_with_valid_fields(fitted, recording):
    x, events = recording
    predicted = fitted.predict(x)
    assert predicted.dtype == EVENT_DTYPE
    assert fitted.query_start_ == events["offset"][4]
    assert np.all(predicted["onset"] >= fitted.query_start_)
    assert np.all(predicted["offset"] > predicted["onset"])
    assert np.all((predicted["score"] >= fitted.threshold) & (predicted["score"] <= 1))
    assert np.all(np.diff(predicted["onset"]) > 0)
    records = events_to_records(predicted)
    assert set(records[0]) == {"onset", "offset", "score"}


def test_pure_background_gives_no_event(fitted, recording):
    x, events = recording
    silent = x.copy()
    # Replace every target event after the shots by background from elsewhere.
    for on, off, _ in events[5:]:
        a, b = int(on * SR), int(off * SR)
        silent[a:b] = x[int(0.01 * SR): int(0.01 * SR) + b - a] * 0.1
    assert len(fitted.predict(silent)) <= 1


def test_window_adapts_to_shot_length():
    assert adaptive_window_seconds([0.05, 0.05]) == pytest.approx(17 * 128 / 22050)
    assert adaptive_window_seconds([0.3, 0.3]) == pytest.approx(0.3)
    assert adaptive_window_seconds([1.0]) == pytest.approx(0.5)
    assert adaptive_window_seconds([2.0]) == pytest.approx(0.5)
    assert adaptive_window_seconds([4.0]) == pytest.approx(0.5)
    x, events = make_event_recording(60.0, n_events=8, n_distractors=0, sample_rate=SR,
                                     event_seconds=(0.9, 1.1), random_state=0)
    det = FewShotEventDetector(random_state=0).fit(x, events)
    mean = np.mean(events["offset"][:5] - events["onset"][:5])
    assert det.window_samples_ == pytest.approx(mean / 2 * SR, abs=2)
    assert det.hop_samples_ * 2 == det.window_samples_


# ---------------------------------------------------------------- streaming
def test_chunked_scoring_equals_all_at_once(recording):
    x, events = recording
    whole = FewShotEventDetector(chunk_seconds=1000.0, random_state=0).fit(x, events)
    chunked = clone(whole).set_params(chunk_seconds=2.0).fit(x, events)
    a, b = whole.window_scores(x), chunked.window_scores(x)
    np.testing.assert_array_equal(a[["onset", "offset"]], b[["onset", "offset"]])
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)
    np.testing.assert_array_equal(whole.predict(x)[["onset", "offset"]],
                                  chunked.predict(x)[["onset", "offset"]])


def test_scoring_reads_bounded_blocks(recording, monkeypatch, fitted):
    x, _ = recording
    sizes = []
    original = Recording.read

    def spy(self, start, stop):
        sizes.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(Recording, "read", spy)
    det = clone(fitted).set_params(chunk_seconds=2.0).fit(x, fitted.shots_)
    sizes.clear()
    det.window_scores(x)
    assert len(sizes) > 5
    assert max(sizes) <= 2.0 * SR + det.window_samples_


def test_sound_file_path_gives_the_same_events(recording, fitted, tmp_path):
    x, events = recording
    path = tmp_path / "rec.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    from_file = clone(fitted).set_params(chunk_seconds=5.0).fit(str(path), events)
    np.testing.assert_allclose(from_file.window_scores(path)["score"],
                               fitted.window_scores(x)["score"], atol=1e-6)
    np.testing.assert_array_equal(from_file.predict(path)[["onset", "offset"]],
                                  fitted.predict(x)[["onset", "offset"]])


def test_verbose_reports_progress(recording, capsys):
    x, events = recording
    FewShotEventDetector(chunk_seconds=10.0, verbose=1, random_state=0).fit_predict(x, events)
    err = capsys.readouterr().err
    assert "FewShotEventDetector" in err and "100%" in err and "audio per s" in err


# ---------------------------------------------------------------- heads and encoders
def test_unfitted_encoder_is_fitted_on_the_windows(recording):
    x, events = recording
    encoder = make_pipeline(MelStatistics(n_fft=512, hop_length=128, n_mels=64),
                            StandardScaler())
    det = FewShotEventDetector(encoder, random_state=0).fit(x, events)
    assert det.encoder_ is not encoder and hasattr(det.encoder_[-1], "mean_")
    assert event_f_measure(events, det.predict(x))["f_measure"] >= 0.8


def test_any_classifier_can_be_the_head(recording):
    x, events = recording
    head = make_pipeline(MelStatistics(n_fft=512, hop_length=128, n_mels=64),
                         StandardScaler(), LogisticRegression(class_weight="balanced"))
    det = FewShotEventDetector(head=head, random_state=0).fit(x, events)
    assert det.encoder_ is None and det.head_ is not head
    assert event_f_measure(events, det.predict(x))["f_measure"] >= 0.8


def test_finetune_without_a_network_is_a_clear_error(recording):
    x, events = recording
    with pytest.raises(ValueError, match="head='finetune' needs a fitted pre-trained"):
        FewShotEventDetector(head="finetune").fit(x, events)


def test_encoder_sample_rate_must_match(recording):
    x, events = recording
    with pytest.raises(ValueError, match="sample_rate=22050"):
        FewShotEventDetector(MelStatistics(sample_rate=22050)).fit(x, events)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("shots, message", [
    ([[1, 2], [1.5, 2.5], [4, 5], [6, 7], [8, 9]], "shots 0 .* and 1 .* overlap"),
    ([[1, 2], [3, 4], [5, 6], [7, 8], [39, 41]], "shot 4 .* outside the recording"),
    ([[-1, 0.5], [3, 4], [5, 6], [7, 8], [9, 10]], "shot 0 .* outside the recording"),
    ([[1, 2], [3, 4], [5, 6]], "3 annotated event.* n_shots=5"),
    ([[1, 2], [3, 3], [5, 6], [7, 8], [9, 10]], "shot 1 .* no duration"),
    ([[1, 2], [3, 2.5], [5, 6], [7, 8], [9, 10]], "ends .* before it starts"),
    ([1, 2, 3, 4, 5], r"shape \(n_events, 2\)"),
])
def test_bad_shots_are_clear_errors(recording, shots, message):
    x, _ = recording
    with pytest.raises(ValueError, match=message):
        FewShotEventDetector().fit(x, np.asarray(shots, dtype=float))


def test_shots_need_background_between_them():
    x = np.random.RandomState(0).randn(5 * SR).astype(np.float32)
    shots = [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]
    with pytest.raises(ValueError, match="no background stretch"):
        FewShotEventDetector().fit(x, shots)


def test_bad_recordings_are_clear_errors(recording):
    x, events = recording
    with pytest.raises(ValueError, match="1-D array"):
        FewShotEventDetector().fit(np.stack([x, x]), events)
    broken = x.copy()
    broken[SR] = np.nan
    with pytest.raises(ValueError, match=rf"the recording holds NaN at sample {SR} \(1.00 s\)"):
        FewShotEventDetector().fit(broken, events)
    with pytest.raises(ValueError, match="requires y"):
        FewShotEventDetector().fit(x, None)


def test_file_at_another_rate_is_refused(recording, tmp_path):
    x, events = recording
    path = tmp_path / "rec.wav"
    sf.write(path, x, 8000)
    with pytest.raises(ValueError, match="8000 Hz"):
        FewShotEventDetector().fit(path, events)


# ---------------------------------------------------------------- sklearn behaviour
def test_same_seed_same_events_and_pickle_round_trip(recording, fitted):
    x, events = recording
    again = FewShotEventDetector(random_state=0).fit(x, events)
    np.testing.assert_array_equal(again.predict(x), fitted.predict(x))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(x), fitted.predict(x))


def test_negative_windows_are_capped_by_a_seeded_subset(recording):
    x, events = recording
    det = FewShotEventDetector(max_negative_windows=20, random_state=0).fit(x, events)
    assert det.n_negative_windows_ == 20
    assert det.n_positive_windows_ >= 5


def test_params_round_trip_through_clone_and_set_params():
    det = FewShotEventDetector(n_shots=3, threshold=0.7, head="linear", random_state=1)
    copy = clone(det)
    assert copy.get_params() == det.get_params()
    copy.set_params(threshold=0.3, merge_gap=0.1)
    assert copy.threshold == 0.3 and det.threshold == 0.7
    with pytest.raises(ValueError, match="threshold"):
        FewShotEventDetector(threshold=2.0).fit(np.zeros(SR), [[0, 0.1]] * 5)


def test_fewer_shots_setting_uses_only_the_first_ones(recording):
    x, events = recording
    det = FewShotEventDetector(n_shots=3, random_state=0).fit(x, events)
    assert len(det.shots_) == 3 and det.query_start_ == events["offset"][2]


# ---------------------------------------------------------------- post-processing
def test_scores_to_events_threshold_merge_and_min_duration():
    scores = [0.1, 0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.1, 0.6, 0.1]
    events = scores_to_events(scores, start=10.0, step=0.5)
    np.testing.assert_allclose(events["onset"], [10.5, 12.0, 14.0])
    np.testing.assert_allclose(events["offset"], [11.5, 12.5, 14.5])
    np.testing.assert_allclose(events["score"], [0.9, 0.7, 0.6])
    merged = scores_to_events(scores, start=10.0, step=0.5, merge_gap=0.5)
    np.testing.assert_allclose(merged["onset"], [10.5, 14.0])
    np.testing.assert_allclose(merged["offset"], [12.5, 14.5])
    long_only = scores_to_events(scores, start=10.0, step=0.5, min_duration=0.75)
    np.testing.assert_allclose(long_only["onset"], [10.5])
    assert len(scores_to_events([0.1, 0.2], start=0, step=1)) == 0


def test_as_event_table_reads_all_forms():
    a = as_event_table([[2.0, 3.0], [0.0, 1.0]])
    np.testing.assert_array_equal(a["onset"], [0.0, 2.0])
    b = as_event_table([{"onset": 0.0, "offset": 1.0, "score": 0.5}])
    assert b["score"][0] == 0.5
    assert len(as_event_table(np.empty((0, 2)))) == 0
    with pytest.raises(ValueError, match="event 0 ends"):
        as_event_table([[1.0, 0.5]])


# ---------------------------------------------------------------- CSV
def test_csv_round_trip_in_dcase_format(tmp_path):
    events = {"a.wav": [[1.0, 1.5], [3.25, 4.0]], "b.wav": np.empty((0, 2))}
    path = tmp_path / "pred.csv"
    write_events_csv(path, events)
    text = path.read_text().splitlines()
    assert text[0] == "Audiofilename,Starttime,Endtime"
    assert text[1] == "a.wav,1.000,1.500"
    back = read_events_csv(path)
    np.testing.assert_allclose(back["a.wav"]["offset"], [1.5, 4.0])
    assert "b.wav" not in back  # a file with no event writes no row


def test_csv_annotation_labels():
    text = io.StringIO("Audiofilename,Starttime,Endtime,Q\n"
                       "r.wav,0.0,1.0,POS\nr.wav,2.0,3.0,UNK\nr.wav,4.0,5.0,POS\n")
    pos = read_events_csv(text)
    text.seek(0)
    unk = read_events_csv(text, label="UNK")
    np.testing.assert_allclose(pos["r.wav"]["onset"], [0.0, 4.0])
    np.testing.assert_allclose(unk["r.wav"]["onset"], [2.0])
    out = io.StringIO()
    write_events_csv(out, {"r.wav": pos["r.wav"]}, label="POS")
    assert out.getvalue().splitlines()[1] == "r.wav,0.000,1.000,POS"
    with pytest.raises(ValueError, match="header"):
        read_events_csv(io.StringIO("file,start,end\nr.wav,0,1\n"))


# ---------------------------------------------------------------- pre-trained network
def test_supcon_encoder_linear_and_finetune_heads():
    supcon = pytest.importorskip("skfewaudio.supcon")
    import torch

    from skfewaudio import make_sounds

    X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.3, random_state=0)
    pre = supcon.SupConPretrainer(encoder="small", n_mels=16, n_fft=256, hop_length=64,
                                  window_seconds=0.3, max_epochs=1, batch_size=8,
                                  projection_dim=8, projection_hidden=16,
                                  random_state=0).fit(X, y)
    weights = [p.detach().clone() for p in pre.net_.module_.encoder.parameters()]
    x, events = make_event_recording(15.0, n_events=8, n_distractors=2, sample_rate=SR,
                                     random_state=0)
    linear = FewShotEventDetector(pre, random_state=0).fit(x, events)
    assert linear.encoder_ is pre
    tuned = FewShotEventDetector(pre, head="finetune", finetune_blocks=1, max_epochs=2,
                                 random_state=0).fit(x, events)
    assert isinstance(tuned.head_, supcon.FineTuneClassifier)
    for det in (linear, tuned):
        scores = det.window_scores(x)
        assert np.all((scores["score"] >= 0) & (scores["score"] <= 1))
        assert det.predict(x).dtype == EVENT_DTYPE
    # Fine-tuning works on a copy: the pre-trained encoder is unchanged.
    for before, after in zip(weights, pre.net_.module_.encoder.parameters()):
        assert torch.equal(before, after)
