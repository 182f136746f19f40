"""A table of bad inputs fed to every public estimator, the loaders and the CLI.

Each outcome must be a ValueError or TypeError (or a warning) whose message names the
clip, the file or the problem: never an error from deep inside torch or numpy, never
a hang, never silent acceptance. The table is listed in docs/input.md.
"""

import pathlib
import signal
import warnings

import numpy as np
import pytest
import scipy.sparse
import soundfile as sf
from sklearn.base import clone, is_classifier

from skfewaudio import load_audio_folder, make_sounds
from skfewaudio.cli import main
from skfewaudio.detection import FewShotEventDetector, make_event_recording
from skfewaudio.utils._discovery import instance_for_tests, testable_estimators

X_GOOD, Y_GOOD = make_sounds(n_classes=3, n_per_class=4, duration=0.25, random_state=0)
CLIP = X_GOOD[0]


def _with(index, value):
    X = X_GOOD.copy()
    X[index] = value
    return X


def _silent_class():
    X = X_GOOD.copy()
    X[Y_GOOD == Y_GOOD[0]] = 0.0
    return X


# name -> (X, y, expected error type, message that must appear)
BAD_FIT_INPUTS = {
    "NaN sample": (_with((2, 10), np.nan), Y_GOOD, ValueError, "clip 2 contains NaN"),
    "infinite sample": (_with((1, 5), np.inf), Y_GOOD, ValueError, "clip 1 contains an infinite"),
    "empty clip": ([CLIP, np.zeros(0)] + list(X_GOOD[2:]), Y_GOOD, ValueError, "clip 1 is empty"),
    "stereo clip": ([CLIP, np.stack([CLIP, CLIP])] + list(X_GOOD[2:]), Y_GOOD, ValueError,
                    "clip 1 is 2-D"),
    "multichannel batch": (np.stack([X_GOOD, X_GOOD], axis=1), Y_GOOD, ValueError,
                           "multichannel"),
    "number as a clip": ([CLIP, 3.0] + list(X_GOOD[2:]), Y_GOOD, ValueError,
                         "clip 1 is a single number"),
    "strings": (np.full((12, 8), "a"), Y_GOOD, TypeError, "strings"),
    "file names": (["clip.wav"] * 12, Y_GOOD, TypeError, "clip 0 is the text 'clip.wav'"),
    "array of file names": (np.array(["clip.wav"] * 12), Y_GOOD, TypeError,
                            "X holds text, such as 'clip.wav'"),
    "paths": ([pathlib.Path("clip.wav")] * 12, Y_GOOD, TypeError, "load_audio_folder"),
    "text clip": ([CLIP, np.array(["a", "b"])] + list(X_GOOD[2:]), Y_GOOD, TypeError,
                  "clip 1 holds strings"),
    "booleans": (X_GOOD > 0, Y_GOOD, TypeError, "booleans"),
    "complex samples": (X_GOOD.astype(complex), Y_GOOD, ValueError, "Complex"),
    "int64 samples": ((X_GOOD * 1000).astype(np.int64), Y_GOOD, TypeError,
                      "not a PCM audio format"),
    "one clip as X": (CLIP, Y_GOOD[:1], ValueError, "that is one clip"),
    "None as X": (None, Y_GOOD, TypeError, "got NoneType"),
    "dict as X": ({"a": CLIP}, Y_GOOD, TypeError, "got dict"),
    "sparse X": (scipy.sparse.csr_matrix(X_GOOD), Y_GOOD, TypeError, "Sparse"),
    "no clips": ([], [], ValueError, "no clips"),
}
BAD_LABELS = {
    "labels missing": (None, ValueError, "requires y"),
    "too few labels": (Y_GOOD[:-1], ValueError, "12 clips but y has 11 labels"),
    "None label": (np.array([None] + list(Y_GOOD[1:]), dtype=object), ValueError,
                   r"no label \(None or NaN\) at position 0"),
    "NaN label": (np.r_[np.nan, np.ones(11)], ValueError,
                  r"no label \(None or NaN\) at position 0"),
    "mixed label types": (np.array([1] + list(Y_GOOD[1:]), dtype=object), ValueError,
                          r"mixes label types \(int and str\)"),
    "one class": (np.array(["a"] * 12), ValueError, "only one class"),
    "continuous labels": (np.linspace(0, 1, 12), ValueError, "continuous"),
    "2-D labels": (np.zeros((12, 2)), ValueError, "y must be 1-D"),
}
# SpecAugment takes spectrograms and WithinClassWhitening embeddings, not clips;
# FewShotEventDetector takes recordings with event times.
WAVEFORM_ESTIMATORS = [instance_for_tests(cls) for name, cls in testable_estimators()
                       if name not in ("SpecAugment", "WithinClassWhitening",
                                       "FewShotEventDetector")]
SUPERVISED = [e for e in WAVEFORM_ESTIMATORS
              if is_classifier(e) or type(e).__name__ == "SupConPretrainer"]


def _name(estimator):
    return type(estimator).__name__


@pytest.fixture(autouse=True)
def no_hang():
    """Fail a case that runs for more than a minute instead of hanging the suite."""
    def timeout(signum, frame):
        raise TimeoutError("this bad input made the estimator hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("estimator", WAVEFORM_ESTIMATORS, ids=_name)
@pytest.mark.parametrize("case", list(BAD_FIT_INPUTS))
def test_bad_clips_in_fit(estimator, case):
    X, y, error, message = BAD_FIT_INPUTS[case]
    if case == "None as X" and _name(estimator) == "MultiGrainedCLAPAdapter":
        # X=None asks for zero-shot use there, which takes no labels.
        error, message = ValueError, "zero-shot fit takes X=None and y=None"
    with pytest.raises(error, match=message):
        clone(estimator).fit(X, y)


@pytest.mark.parametrize("estimator", SUPERVISED, ids=_name)
@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_bad_labels_in_fit(estimator, case):
    y, error, message = BAD_LABELS[case]
    if case == "labels missing" and _name(estimator) == "SupConPretrainer":
        pytest.skip("without labels the pre-trainer learns self-supervised, by design")
    with pytest.raises(error, match=message):
        clone(estimator).fit(X_GOOD, y)


@pytest.fixture(scope="module")
def fitted():
    return {_name(e): clone(e).fit(X_GOOD, Y_GOOD) for e in WAVEFORM_ESTIMATORS}


@pytest.mark.parametrize("name", [_name(e) for e in WAVEFORM_ESTIMATORS])
@pytest.mark.parametrize("case", ["NaN sample", "stereo clip", "strings", "int64 samples",
                                  "one clip as X", "None as X", "no clips"])
def test_bad_clips_after_fit(fitted, name, case):
    X, _, error, message = BAD_FIT_INPUTS[case]
    estimator = fitted[name]
    method = getattr(estimator, "predict", None) or estimator.transform
    with pytest.raises(error, match=message):
        method(X)


@pytest.mark.parametrize("estimator", WAVEFORM_ESTIMATORS, ids=_name)
def test_silent_clips_are_named_in_a_warning(estimator):
    X = _with(3, 0.0)
    y = Y_GOOD if estimator in SUPERVISED or is_classifier(estimator) else None
    with pytest.warns(UserWarning, match="clip 3 is silent"):
        clone(estimator).fit(X, y)


@pytest.mark.parametrize("estimator", SUPERVISED, ids=_name)
def test_a_class_of_silent_clips_is_an_error(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=r"every clip of class\(es\) \['.*'\] is silent"):
            clone(estimator).fit(_silent_class(), Y_GOOD)


# ------------------------------------------------------------- the detector
RECORDING, EVENTS = make_event_recording(20.0, n_events=10, sample_rate=16000, random_state=0)
BAD_RECORDINGS = {
    "NaN in the recording": (np.r_[np.nan, RECORDING[1:]], EVENTS, ValueError, "NaN"),
    "stereo recording": (np.stack([RECORDING, RECORDING]), EVENTS, ValueError, "mono"),
    "empty recording": (np.zeros(0), EVENTS, ValueError, "empty"),
    "text recording": (np.array(["a", "b"]), EVENTS, TypeError, "strings"),
    "missing file": ("no/such/recording.wav", EVENTS, OSError, "no/such/recording.wav"),
    "no events": (RECORDING, None, ValueError, "requires y"),
    "too few events": (RECORDING, EVENTS[:3], ValueError, "5"),
    "events past the end": (RECORDING, np.array([[30.0 + i, 30.5 + i] for i in range(5)]),
                            ValueError, "recording"),
}


@pytest.mark.parametrize("case", list(BAD_RECORDINGS))
def test_bad_recordings_and_events(case):
    x, events, error, message = BAD_RECORDINGS[case]
    with pytest.raises(error, match=message):
        FewShotEventDetector(random_state=0).fit(x, events)


def test_a_recording_file_at_another_sample_rate_is_refused(tmp_path):
    path = tmp_path / "field.wav"
    sf.write(path, RECORDING, 22050)
    with pytest.raises(ValueError, match="field.wav is sampled at 22050 Hz but the detector "
                                         "expects sample_rate=16000; resample"):
        FewShotEventDetector(random_state=0).fit(str(path), EVENTS)


def test_spec_augment_refuses_waveforms_and_bad_spectrograms():
    from skfewaudio import SpecAugment

    with pytest.raises(ValueError, match="needs spectrograms"):
        SpecAugment().fit_transform(X_GOOD)
    with pytest.raises(ValueError, match="clip 0 contains NaN"):
        SpecAugment().fit_transform(np.full((2, 16, 10), np.nan, dtype=np.float32))


# ------------------------------------------------------------- loader and CLI
def _folder(tmp_path, bad_name, bad_bytes):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            sf.write(tmp_path / label / f"{i}.wav", X_GOOD[i], 16000)
    (tmp_path / "a" / bad_name).write_bytes(bad_bytes)
    return tmp_path


@pytest.mark.parametrize("bad_name, bad_bytes", [
    ("broken.wav", b"RIFF\x00\x00 not audio"), ("empty.wav", b""),
    ("noise.flac", bytes(range(256)) * 4),
])
def test_the_loader_and_the_cli_name_every_bad_file(tmp_path, capsys, bad_name, bad_bytes):
    root = _folder(tmp_path, bad_name, bad_bytes)
    with pytest.raises(ValueError, match=bad_name):
        load_audio_folder(root, sample_rate=16000)
    assert main(["evaluate", str(root), "--n-way", "2", "--n-shot", "1", "--episodes", "5",
                 "--output", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err  # a progress bar, then the error and the files it names
    assert "\nskfewaudio: error:" in err and bad_name in err and "Traceback" not in err


def test_the_loader_refuses_a_missing_or_classless_folder(tmp_path):
    with pytest.raises(OSError, match="missing"):
        load_audio_folder(tmp_path / "missing", sample_rate=16000)
    with pytest.raises(ValueError, match=str(tmp_path)):
        load_audio_folder(tmp_path, sample_rate=16000)


# A 0.02 s clip among 0.25 s ones: far shorter than each front-end's window.
SHORT_CLIP_CASES = {
    "MelSpectrogram": ("MelSpectrogram", {}, "the spectrogram length n_samples_"),
    "MelStatistics": ("MelStatistics", {"n_fft": 2048}, "one STFT frame"),
    "network window": ("ProtoContrastiveClassifier", {"window_seconds": 0.25},
                       "the network.s 0.25 s window"),
}


@pytest.mark.parametrize("case", SHORT_CLIP_CASES)
def test_clips_far_shorter_than_the_window_are_named_in_a_warning(case):
    import skfewaudio

    name, params, window = SHORT_CLIP_CASES[case]
    cls = getattr(skfewaudio, name)
    estimator = instance_for_tests(cls).set_params(**params).fit(X_GOOD, Y_GOOD)
    X = list(X_GOOD[:4]) + [X_GOOD[4][:320]]
    method = getattr(estimator, "predict", None) or estimator.transform
    with pytest.warns(UserWarning, match=f"clip 4 is shorter than half of {window}"):
        method(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        method(X_GOOD[:4])
