import numpy as np
import pytest

from skfewaudio import PrototypeClassifier
from skfewaudio._validation import check_audio, check_labels, check_waveforms


def test_2d_float_array_is_kept_as_float32_array():
    X = np.zeros((3, 100), dtype=np.float64)
    out = check_waveforms(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 100)


def test_list_of_different_lengths_is_kept():
    out = check_waveforms([np.zeros(10), np.ones(25, dtype=np.float32)])
    assert [len(c) for c in out] == [10, 25]
    assert all(c.dtype == np.float32 for c in out)


@pytest.mark.parametrize("dtype, value, expected", [
    (np.int16, -(2**15), -1.0),
    (np.int16, 2**14, 0.5),
    (np.int32, 2**30, 0.5),
    (np.uint8, 128, 0.0),
    (np.uint8, 0, -1.0),
    (np.int8, -64, -0.5),
])
def test_integer_pcm_is_scaled(dtype, value, expected):
    out = check_waveforms(np.full((1, 4), value, dtype=dtype))
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("X, error, match", [
    ([np.zeros(5), np.array([0.0, np.nan, 1.0])], ValueError, r"clip 1 contains NaN \(first at sample 1\)"),
    (np.array([[0.0, 1.0], [np.inf, 0.0]]), ValueError, r"clip 1 contains an infinite value"),
    ([np.zeros(5), np.zeros(0)], ValueError, r"clip 1 is empty"),
    (np.zeros((2, 0)), ValueError, r"0 feature\(s\)"),
    ([np.zeros(5), np.zeros((2, 5))], ValueError, r"clip 1 is 2-D .*Down-mix"),
    (np.zeros((2, 2, 100)), ValueError, r"multichannel.*mean\(axis=1\)"),
    (np.array([["a", "b"]]), TypeError, r"strings"),
    ([np.zeros(3), np.array([{"a": 1}, 2.0], dtype=object)], TypeError, r"clip 1 cannot be read"),
    (np.zeros((2, 3), dtype=np.int64), TypeError, r"not a PCM audio format"),
    (np.zeros(10), ValueError, r"one clip, not a batch"),
    ([], ValueError, r"no clips"),
    ("clip.wav", TypeError, r"2-D array"),
    (np.zeros((2, 3), dtype=complex), ValueError, r"Complex"),
])
def test_bad_waveforms_name_the_clip_and_problem(X, error, match):
    with pytest.raises(error, match=match):
        check_audio(X)


def test_spectrogram_batch_is_accepted():
    out = check_audio(np.zeros((2, 16, 9)))
    assert out.shape == (2, 16, 9) and out.dtype == np.float32


@pytest.mark.parametrize("y, n, match", [
    ([0, 1, 1], 4, r"X has 4 clips but y has 3 labels"),
    (["dog"] * 3, 3, r"only one class \('dog'\)"),
    ([0.5, 1.5, 2.5], 3, r"Unknown label type"),
    (None, 3, r"requires y"),
])
def test_bad_labels(y, n, match):
    with pytest.raises(ValueError, match=match):
        check_labels(y, n)


def test_estimator_reports_clip_index(sounds):
    X, y = sounds
    clips = list(X[:6])
    clips[4] = clips[4].copy()
    clips[4][10] = np.nan
    with pytest.raises(ValueError, match="clip 4 contains NaN"):
        PrototypeClassifier().fit(clips, y[:6])


def test_score_rejects_query_labels_not_in_support(sounds):
    X, y = sounds
    support = np.isin(y, np.unique(y)[:3])
    clf = PrototypeClassifier().fit(X[support], y[support])
    with pytest.raises(ValueError, match=r"never seen in fit"):
        clf.score(X[~support][:4], y[~support][:4])


def test_huge_finite_samples_whose_sum_overflows_are_accepted():
    # The fast finiteness test sums the samples; an overflowing sum is not an error.
    X = np.full((2, 10), 3e38, dtype=np.float32)
    with np.errstate(over="ignore"):
        assert np.isinf(X.sum())
    np.testing.assert_array_equal(check_waveforms(X), X)
