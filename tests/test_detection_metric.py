"""The DCASE Task 5 event metric on cases worked out by hand."""

import numpy as np
import pytest

from skfewaudio.detection import event_counts, event_f_measure, match_events, remove_shots

SHOTS = [[0.0, 0.5], [1.0, 1.5], [2.0, 2.5], [3.0, 3.5], [4.0, 4.5]]


def test_perfect_prediction():
    ref = SHOTS + [[10.0, 11.0], [20.0, 21.0]]
    scores = event_f_measure(ref, [[10.0, 11.0], [20.0, 21.0]])
    assert scores["precision"] == scores["recall"] == scores["f_measure"] == 1.0
    assert scores["per_file"]["recording"]["n_reference"] == 2


def test_iou_threshold_is_strictly_above_0_3():
    ref = [[0.0, 1.0]]
    # IoU 0.5 / 1.5 = 0.333: a match. IoU 0.4 / 1.6 = 0.25: none.
    assert match_events(ref, [[0.5, 1.5]]) == [(0, 0)]
    assert match_events(ref, [[0.6, 1.6]]) == []
    # IoU exactly 0.3 (0.3 / 1.0): the official code needs more than 0.3.
    assert match_events(ref, [[0.0, 0.3]]) == []
    assert match_events(ref, [[0.0, 0.31]]) == [(0, 0)]


def test_matching_is_one_to_one():
    counts = event_counts([[0.0, 1.0]], [[0.0, 0.9], [0.1, 1.0]])
    assert counts == {"tp": 1, "fp": 1, "fn": 0, "n_reference": 1}


def test_matching_is_maximal_not_greedy():
    # P1 overlaps A best (IoU 0.58) but also B (0.46); P2 only A (0.5). Greedy by IoU
    # would give P1-A and leave P2 and B unmatched; the maximum matching finds both.
    ref = [[0.0, 1.0], [0.6, 1.6]]
    pred = [[0.3, 1.2], [0.0, 0.5]]
    assert sorted(match_events(ref, pred)) == [(0, 0), (1, 1)]
    assert event_counts(ref, pred)["tp"] == 2


def test_unknown_events_are_neither_right_nor_wrong():
    ref = [[10.0, 11.0]]
    unk = [[20.0, 21.0]]
    pred = [[10.0, 11.0], [20.1, 21.0], [30.0, 31.0]]
    counts = event_counts(ref, pred, unknown=unk)
    assert counts == {"tp": 1, "fp": 1, "fn": 0, "n_reference": 1}


def test_shots_and_everything_before_them_are_removed():
    ref = SHOTS + [[10.0, 11.0], [20.0, 21.0]]
    left, unk = remove_shots(ref, 5, unknown=[[1.2, 1.4], [15.0, 16.0]])
    np.testing.assert_array_equal(left["onset"], [10.0, 20.0])
    np.testing.assert_array_equal(unk["onset"], [15.0])
    # A prediction on a shot counts as a false positive (the shots were given).
    scores = event_f_measure(ref, [[2.0, 2.5], [10.0, 11.0], [20.0, 21.0]])
    file = scores["per_file"]["recording"]
    assert (file["tp"], file["fp"], file["fn"]) == (2, 1, 0)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["f_measure"] == pytest.approx(2 / (2 + 0.5))
    with pytest.raises(ValueError, match="fewer than n_shots=5"):
        event_f_measure(SHOTS[:3], [])


def test_counts_pool_per_subset_and_subsets_average_harmonically():
    ref = {
        "a.wav": SHOTS + [[10, 11], [20, 21]],
        "b.wav": SHOTS + [[10, 11]],
        "c.wav": SHOTS + [[10, 11], [20, 21]],
    }
    pred = {
        "a.wav": [[10, 11]],                  # tp 1, fn 1
        "b.wav": [[10, 11], [30, 31]],        # tp 1, fp 1
        "c.wav": [[10, 11], [20, 21]],        # tp 2
    }
    subsets = {"a.wav": "S1", "b.wav": "S1", "c.wav": "S2"}
    scores = event_f_measure(ref, pred, subsets=subsets)
    s1 = scores["per_subset"]["S1"]
    assert (s1["tp"], s1["fp"], s1["fn"]) == (2, 1, 1)
    assert s1["precision"] == pytest.approx(2 / 3)
    assert s1["recall"] == pytest.approx(2 / 3)
    assert s1["f_measure"] == pytest.approx(2 / 3)
    assert scores["per_subset"]["S2"]["f_measure"] == 1.0
    # Harmonic mean of 2/3 and 1 is 0.8.
    assert scores["f_measure"] == pytest.approx(0.8)
    assert scores["per_file"]["a.wav"]["recall"] == pytest.approx(0.5)
    # Without subsets, counts are pooled over all files: tp 4, fp 1, fn 1.
    pooled = event_f_measure(ref, pred)
    assert pooled["f_measure"] == pytest.approx(4 / (4 + 1))


def test_no_prediction_scores_the_floor_value():
    scores = event_f_measure({"a.wav": SHOTS + [[10, 11]]}, {})
    assert scores["per_file"]["a.wav"]["fn"] == 1
    assert scores["f_measure"] == pytest.approx(1e-5)
    assert scores["precision"] == pytest.approx(1e-5)


def test_prediction_for_an_unknown_file_is_an_error():
    with pytest.raises(ValueError, match="no reference"):
        event_f_measure({"a.wav": SHOTS}, {"b.wav": [[0, 1]]})


def test_n_shots_zero_keeps_every_reference_event():
    scores = event_f_measure([[0.0, 1.0]], [[0.0, 1.0]], n_shots=0)
    assert scores["f_measure"] == 1.0
