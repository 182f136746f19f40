"""The one place where raw user input becomes arrays.

Waveform contract
-----------------
``X`` is either a 2-D float array of shape ``(n_clips, n_samples)`` or a sequence of
1-D arrays of any lengths (one mono clip each). Estimators that accept the output of
:class:`~skfewaudio.MelSpectrogram` also take a 3-D array of shape
``(n_clips, n_mels, n_frames)``.

Integer PCM is scaled to ``[-1, 1]`` the way audio files store it: ``int16`` by
``2**15``, ``int32`` by ``2**31``, ``int8`` by ``2**7`` and unsigned ``uint8`` (8-bit
WAV) as ``(x - 128) / 128``. Other integer widths (``int64``, ``uint16``...) have no
standard audio meaning and are rejected, as are booleans, strings and complex values.
"""

import os
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

__all__ = [
    "validate_fit_audio",
    "validate_audio_after_fit",
    "check_waveforms",
    "check_audio",
    "check_sample_dtype",
    "check_labels",
    "check_fit_labels",
    "silent_clips",
    "check_query_labels",
    "is_spectrogram_batch",
]

# dtype -> (offset, scale) so that (x - offset) / scale lies in [-1, 1].
_PCM_SCALES = {
    np.dtype(np.int8): (0.0, 2.0**7),
    np.dtype(np.uint8): (128.0, 2.0**7),
    np.dtype(np.int16): (0.0, 2.0**15),
    np.dtype(np.int32): (0.0, 2.0**31),
}


def _to_float(clip, where):
    """Return ``clip`` as float32, scaling integer PCM; raise on non-audio dtypes."""
    dtype = clip.dtype
    if dtype.kind == "f":
        return clip.astype(np.float32, copy=False)
    if dtype in _PCM_SCALES:
        offset, scale = _PCM_SCALES[dtype]
        return ((clip.astype(np.float32) - offset) / scale).astype(np.float32)
    if dtype.kind in "iu":
        raise TypeError(
            f"{where} has dtype {dtype}, which is not a PCM audio format; "
            "pass float samples in [-1, 1] (e.g. x / full_scale) or int16/int32 PCM."
        )
    if dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {where} is {dtype}; audio samples must be real."
        )
    if dtype.kind in "USb":
        kind = "booleans" if dtype.kind == "b" else "strings"
        raise TypeError(f"{where} holds {kind} ({dtype}); audio samples must be numbers.")
    try:  # object arrays: accept numbers, explain anything else
        return clip.astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} cannot be read as float samples: {exc}") from exc


def check_sample_dtype(array, where):
    """Raise (naming ``where``) unless ``array`` holds audio samples: floats or PCM."""
    _to_float(np.asarray(array).ravel()[:1], where)


def first_non_finite(clips_2d):
    """``(row, column, "NaN" or "an infinite value")`` of the first sample of a 2-D
    float array that is not finite, or None when all are."""
    # A finite sum means every sample is finite (NaN and inf propagate); a sum that
    # overflowed only sends us to the exact element-wise test below. One sum in the
    # array's own dtype measured 4x faster than a float64 one.
    with np.errstate(over="ignore"):
        if np.isfinite(np.sum(clips_2d)):
            return None
    bad = ~np.isfinite(clips_2d)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return int(row), int(col), "NaN" if np.isnan(clips_2d[row, col]) else "an infinite value"


def check_finite_samples(samples, rate, offset=0):
    """Raise naming the first sample of a decoded file that is NaN or infinite (a
    float file can hold them), with its time; ``offset``: the block's first sample."""
    found = first_non_finite(samples[np.newaxis])
    if found is not None:
        _, index, what = found
        index += offset
        raise ValueError(f"the file holds {what} at sample {index} ({index / rate:.2f} s)")


def _check_finite(clips_2d, first_index=0):
    """Raise naming the first clip and sample that is NaN or infinite."""
    found = first_non_finite(clips_2d)
    if found is not None:
        row, col, what = found
        raise ValueError(
            f"clip {first_index + row} contains {what} (first at sample {col}); "
            "repair or drop that clip."
        )


_FILE_READERS = (
    "X must hold samples, not file names: read the files first, e.g. with "
    "skfewaudio.load_audio_folder (a folder of class folders) or soundfile.read."
)


def _check_one_clip(clip, index):
    where = f"clip {index}"
    if isinstance(clip, (str, bytes, os.PathLike)):
        raise TypeError(f"{where} is the text {os.fsdecode(clip)!r}. {_FILE_READERS}")
    clip = np.asarray(clip)
    if clip.ndim == 0:
        raise ValueError(
            f"{where} is a single number, not a clip. X must be a 2-D array "
            "(n_clips, n_samples) or a list of 1-D arrays; for one clip pass [clip]."
        )
    if clip.ndim == 2:
        raise ValueError(
            f"{where} is 2-D with shape {clip.shape}: multichannel audio is not "
            "accepted. Down-mix it to mono first, e.g. clip.mean(axis=0) for "
            "(n_channels, n_samples) or clip.mean(axis=1) for (n_samples, n_channels)."
        )
    if clip.ndim > 2:
        raise ValueError(f"{where} has {clip.ndim} dimensions; a clip must be 1-D.")
    if clip.size == 0:
        raise ValueError(f"{where} is empty (0 samples).")
    clip = _to_float(clip, where)
    _check_finite(clip[np.newaxis], first_index=index)
    return clip


def _check_2d_array(X):
    if X.shape[0] == 0:
        raise ValueError("X holds no clips (shape %s)." % (X.shape,))
    if X.shape[1] == 0:
        raise ValueError(
            f"clip 0 is empty: X has 0 feature(s) (shape={X.shape}) while a minimum of "
            "1 is required (one sample per clip)."
        )
    if X.dtype == object:
        return [_check_one_clip(np.asarray(list(row)), i) for i, row in enumerate(X)]
    X = _to_float(X, "X")
    _check_finite(X)
    return X


def check_waveforms(X):
    """Validate mono waveforms.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_samples) or sequence of 1-D arrays
        Mono clips.

    Returns
    -------
    waveforms : ndarray of shape (n_clips, n_samples) or list of 1-D ndarrays
        float32 samples; a 2-D input stays a 2-D array, a sequence becomes a list.
    """
    if issparse(X):
        raise TypeError(
            "Sparse input is not supported: audio clips are dense arrays; "
            "call X.toarray() if this matrix really holds waveforms."
        )
    if X is None or isinstance(X, (str, bytes, dict)):
        raise TypeError(
            f"X must be a 2-D array (n_clips, n_samples) or a list of 1-D clips, "
            f"got {type(X).__name__}."
        )
    if hasattr(X, "__array__") and not isinstance(X, np.ndarray):
        X = np.asarray(X)  # DataFrames, tensors on CPU, memmaps...
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            return _check_2d_array(X)
        if X.ndim == 1 and X.dtype.kind in "US":
            raise TypeError(f"X holds text, such as {str(X[0])!r}. {_FILE_READERS}")
        if X.ndim == 1 and X.dtype != object:
            raise ValueError(
                f"X is 1-D with shape {X.shape}: that is one clip, not a batch. "
                "Reshape your data with X[np.newaxis] (or pass [clip]) for a single clip."
            )
        if X.ndim == 3:
            raise ValueError(
                f"X is 3-D with shape {X.shape}. If these are multichannel clips "
                "(n_clips, n_channels, n_samples), down-mix with X.mean(axis=1). If they "
                "are spectrograms, this estimator needs waveforms."
            )
        if X.ndim != 1:
            raise ValueError(f"X has {X.ndim} dimensions; expected 2 or a list of clips.")
    try:
        n_clips = len(X)
    except TypeError:
        raise TypeError(f"X of type {type(X).__name__} is not a sequence of clips.") from None
    if n_clips == 0:
        raise ValueError("X holds no clips.")
    return [_check_one_clip(clip, i) for i, clip in enumerate(X)]


def is_spectrogram_batch(X):
    """Whether validated input is a batch of spectrograms (a 3-D array)."""
    return isinstance(X, np.ndarray) and X.ndim == 3


def check_audio(X):
    """Validate waveforms, or spectrograms such as :class:`MelSpectrogram` output.

    A 3-D array is read as spectrograms ``(n_clips, n_mels, n_frames)``; anything
    else must satisfy :func:`check_waveforms`. A 3-D array with one or two rows per
    clip looks like multichannel audio and is refused with down-mixing advice.

    Returns
    -------
    audio : ndarray of shape (n_clips, n_samples) or (n_clips, n_mels, n_frames), \
            or list of 1-D ndarrays
        float32.
    """
    if hasattr(X, "__array__") and not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.ndim == 3:
        if X.shape[1] <= 2:
            raise ValueError(
                f"X has shape {X.shape}, which looks like multichannel audio "
                "(n_clips, n_channels, n_samples); down-mix with X.mean(axis=1). "
                "Spectrograms must be (n_clips, n_mels, n_frames) with n_mels > 2."
            )
        if X.shape[0] == 0 or X.shape[2] == 0:
            raise ValueError(f"X holds no spectrogram frames (shape {X.shape}).")
        X = _to_float(X, "X")
        _check_finite(X.reshape(len(X), -1))
        return X
    return check_waveforms(X)


def validate_fit_audio(estimator, X, *, spectrograms=True):
    """Validate clips given to ``fit`` and record ``n_features_in_`` for 2-D arrays.

    ``spectrograms=False`` accepts waveforms only (see :func:`check_waveforms`).
    Silent clips are accepted with a warning that names them.
    """
    X = check_audio(X) if spectrograms else check_waveforms(X)
    is_2d = isinstance(X, np.ndarray) and X.ndim == 2
    validate_data(estimator, X, skip_check_array=True, ensure_2d=is_2d)
    silent = silent_clips(X)
    if len(silent):
        warnings.warn(
            f"{_positions('clip', silent)} {_is_are(silent)} silent or nearly so (peak below "
            f"{_SILENCE_DBFS} dBFS), so there is no sound to learn from there; check or "
            "drop such clips.", UserWarning, stacklevel=3)
    return X


# Peak level below which a clip counts as silent: under 16-bit PCM's quietest steps.
_SILENCE_DBFS = -80
_SILENCE_PEAK = 10 ** (_SILENCE_DBFS / 20)


def silent_clips(X):
    """Indices of waveforms whose peak is below -80 dBFS (none for spectrograms)."""
    if is_spectrogram_batch(X):
        return np.zeros(0, dtype=int)
    if isinstance(X, np.ndarray):
        return np.flatnonzero(np.abs(X).max(axis=1) < _SILENCE_PEAK)
    return np.flatnonzero([np.abs(clip).max() < _SILENCE_PEAK for clip in X])


@contextmanager
def each_warning_once(reword=None, stacklevel=3):
    """Show each distinct warning raised in the block once, after it (also when it
    fails: the warnings may say why).

    An encoder warns on each call (about short clips, say), and a corpus or an
    evaluation makes thousands of calls; Python's own once-per-location rule does not
    hold when a library in between resets the warning filters. ``reword(message)`` may
    replace a warning by a text, or by None to drop it. ``stacklevel`` is
    :func:`warnings.warn`'s, 3 being the function that holds the ``with``.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        shown = set()
        for record in caught:
            message = record.message if reword is None else reword(record.message)
            key = (record.category, str(message))
            if message is None or key in shown:
                continue
            shown.add(key)
            if isinstance(message, str):
                warnings.warn(message, UserWarning, stacklevel=stacklevel)
            else:  # the instance: it may carry more than its text
                warnings.warn(message, stacklevel=stacklevel)


class ShortClipsWarning(UserWarning):
    """Clips far shorter than the window they are zero-padded to.

    ``window`` is the window in words and ``n_samples`` its length: a caller who knows
    the clips by name (the command line) can name the short ones.
    """

    def __init__(self, message, window="", n_samples=0):
        super().__init__(message)
        self.window = window
        self.n_samples = n_samples


def padding_outweighs(clip_length, n_samples):
    """Whether a clip of ``clip_length`` samples, zero-padded to ``n_samples``, is more
    padding than sound: the rule of :class:`ShortClipsWarning`."""
    return 2 * clip_length < n_samples


def warn_padded_clips(X, n_samples, window):
    """Warn, naming them, about waveforms shorter than half of ``n_samples``.

    The caller zero-pads clips to ``n_samples``, which ``window`` describes in words
    ("the network's 5 s window"); below half of it, padding outweighs the sound. A
    clip a little short is normal and passes without a word.
    """
    if is_spectrogram_batch(X) or (isinstance(X, np.ndarray)
                                   and not padding_outweighs(X.shape[1], n_samples)):
        return
    short = np.flatnonzero([padding_outweighs(len(clip), n_samples) for clip in X])
    if len(short):
        window = f"{window} ({n_samples} samples)"
        warnings.warn(ShortClipsWarning(
            f"{_positions('clip', short)} {_is_are(short)} shorter than half of {window} "
            "and zero-padded to it, so the padding outweighs the sound; use a shorter "
            "window or longer clips.", window, n_samples), stacklevel=4)


def check_fit_labels(X, y, *, min_classes=2, estimator=None):
    """:func:`check_labels` for the clips ``X`` of a fit; a class whose every clip
    is silent is an error (nothing could be learned about it)."""
    y = check_labels(y, len(X), min_classes=min_classes, estimator=estimator)
    silent = np.zeros(len(y), dtype=bool)
    silent[silent_clips(X)] = True
    if silent.any():
        classes, codes = np.unique(y, return_inverse=True)
        empty = [c for k, c in enumerate(classes) if silent[codes == k].all()]
        if empty:
            raise ValueError(
                f"every clip of class(es) {[_label(c) for c in empty]} is silent (peak "
                f"below {_SILENCE_DBFS} dBFS): those classes hold no sound. Check the "
                "recordings of those classes."
            )
    return y


def _positions(what, indices, limit=10):
    """``"clip 3"`` / ``"clips 3, 7, ... and 2 more"``."""
    indices = [int(i) for i in indices]
    shown = ", ".join(map(str, indices[:limit]))
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return f"{what} {shown}" if len(indices) == 1 else f"{what}s {shown}{more}"


def _is_are(indices):
    return "is" if len(indices) == 1 else "are"


def _label(value):
    return value.item() if isinstance(value, np.generic) else value


def validate_audio_after_fit(estimator, X, *, spectrograms=True):
    """Validate clips given to a fitted estimator; clips of any length are accepted."""
    check_is_fitted(estimator)
    X = check_audio(X) if spectrograms else check_waveforms(X)
    validate_data(estimator, X, skip_check_array=True, ensure_2d=False, reset=False)
    return X


def check_labels(y, n_clips, *, min_classes=2, estimator=None):
    """Validate class labels for ``n_clips`` clips.

    Raises if lengths differ, if labels are continuous, or if fewer than
    ``min_classes`` distinct classes are present.

    Returns
    -------
    y : ndarray of shape (n_clips,)
    """
    if y is None:
        name = type(estimator).__name__ if estimator is not None else "This estimator"
        raise ValueError(
            f"{name} requires y to be passed, but the target y is None: "
            "give one class label per clip."
        )
    y = np.asarray(y)
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise ValueError(f"y must be 1-D (one label per clip), got shape {y.shape}.")
    y = column_or_1d(y, warn=True)
    if len(y) != n_clips:
        raise ValueError(f"X has {n_clips} clips but y has {len(y)} labels.")
    missing = _missing_labels(y)
    if len(missing):
        raise ValueError(
            f"y has no label (None or NaN) at {_positions('position', missing)}; "
            "give every clip a label, or drop those clips."
        )
    kinds = _label_kinds(y)
    if len(kinds) > 1:
        raise ValueError(
            f"y mixes label types ({' and '.join(sorted(kinds))}); use one type for "
            "every label, e.g. all strings."
        )
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < min_classes:
        raise ValueError(
            f"the support set has only one class ({_label(classes[0])!r}); few-shot "
            f"classification needs at least {min_classes} classes."
        )
    return y


def _missing_labels(y):
    if y.dtype.kind == "f":
        return np.flatnonzero(np.isnan(y))
    if y.dtype == object:
        return np.flatnonzero([v is None or (isinstance(v, float) and np.isnan(v))
                               for v in y])
    return np.zeros(0, dtype=int)


def _label_kinds(y):
    """The kinds of label present: str, int, float, bool or another type's name."""
    if y.dtype != object:
        return {y.dtype.kind}
    kinds = set()
    for value in y:
        if isinstance(value, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(value, str):
            kinds.add("str")
        elif isinstance(value, Integral):
            kinds.add("int")
        elif isinstance(value, Real):
            kinds.add("float")
        else:
            kinds.add(type(value).__name__)
    return kinds


def check_query_labels(y, classes):
    """Raise if query labels contain classes the estimator was not fitted on."""
    unseen = np.setdiff1d(np.asarray(y), classes)
    if len(unseen):
        raise ValueError(
            f"query labels {unseen.tolist()} were never seen in fit; "
            f"the support set had classes {np.asarray(classes).tolist()}."
        )


# scikit-learn checks that cannot hold when each row is an audio clip, with reasons.
# Each estimator declares only the ones that run for it (tests/test_common.py checks).
WAVEFORM_EXPECTED_FAILED_CHECKS = {
    "check_n_features_in_after_fitting": (
        "clips of any length are accepted after fit: the number of samples is not a "
        "fixed feature count"
    ),
    "check_estimators_dtypes": "int64 is not a PCM audio format and is rejected on purpose",
}

CLASSIFIER_EXPECTED_FAILED_CHECKS = {
    **WAVEFORM_EXPECTED_FAILED_CHECKS,
    "check_classifier_data_not_an_array": (
        "uses int64 data, which is not a PCM audio format and is rejected on purpose"
    ),
    "check_classifiers_train": (
        "rows of blob data are not waveforms: a spectral front-end cannot separate "
        "two-sample 'clips' (its decision_function / predict_proba agreement assertions "
        "are tested in tests/test_common.py)"
    ),
}

TRANSFORMER_EXPECTED_FAILED_CHECKS = {
    **WAVEFORM_EXPECTED_FAILED_CHECKS,
    "check_transformer_general": (
        "asserts that a different number of samples per clip is an error; clips of "
        "any length are accepted by design (fit_transform consistency is tested in "
        "tests/test_common.py)"
    ),
}

CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS = {
    **CLASSIFIER_EXPECTED_FAILED_CHECKS, **TRANSFORMER_EXPECTED_FAILED_CHECKS,
}


def check_positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)
