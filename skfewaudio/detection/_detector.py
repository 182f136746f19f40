"""Few-shot sound event detection in one long recording (the task of Moummad et al., DCASE 2023)."""

import sys
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._prototypes import as_2d_embedding
from ..features import MelStatistics
from ._events import EVENT_DTYPE, scores_to_events
from ._recording import Recording

# Adaptive window (Tang et al., DCASE 2022, as used by Moummad et al. 2023): thresholds
# on the mean shot length, converted from frames (hop 128 at 22.05 kHz) to seconds.
_FRAME = 128 / 22050
_ADAPTIVE_RULE = ((17 * _FRAME, None), (100 * _FRAME, 1), (200 * _FRAME, 2),
                  (400 * _FRAME, 4), (np.inf, 8))


def adaptive_window_seconds(shot_durations):
    """Window length for shots of these durations (seconds).

    The rule of Tang et al. (DCASE 2022), used by Moummad et al.: with ``L`` the mean shot
    length, the window is 0.099 s (17 frames) when ``L`` is shorter, ``L`` up to
    0.58 s, ``L / 2`` up to 1.16 s, ``L / 4`` up to 2.32 s and ``L / 8`` beyond,
    so long calls are covered by several windows rather than one.
    """
    mean = float(np.mean(shot_durations))
    if mean <= _ADAPTIVE_RULE[0][0]:
        return _ADAPTIVE_RULE[0][0]
    for limit, divisor in _ADAPTIVE_RULE[1:]:
        if mean <= limit:
            return mean / divisor
    raise AssertionError("unreachable")  # pragma: no cover


class FewShotEventDetector(BaseEstimator):
    """Find every event of a sound in a long recording from its first few examples.

    The few-shot bioacoustic detection task of DCASE Task 5 (Moummad et
    al. 2023): someone annotated the first ``n_shots`` events of a recording; the
    detector returns onset, offset and score of the other events after the last
    annotated one. One detector is fitted per recording.

    How it works:

    1. **Windows.** The window length adapts to the annotated events
       (:func:`adaptive_window_seconds`); the hop is half a window.
    2. **Training windows.** Positives are windows inside each shot (a shot shorter
       than a window gives one window centred on it); negatives are windows of the
       stretches before the first shot and between shots, at most
       ``max_negative_windows`` of them (a seeded random subset).
    3. **Head.** ``head="linear"``: windows are embedded by ``encoder`` (any
       scikit-learn transformer taking a batch of waveforms) and a class-balanced
       logistic regression is fitted on the standardised embeddings (a linear
       probe). ``head="finetune"``: a linear layer on the encoder's network is
       trained together with its last ``finetune_blocks`` blocks, with random time
       crops (Moummad et al.'s systems 2-4, via ``skfewaudio.supcon.FineTuneClassifier``;
       needs a fitted ``SupConPretrainer`` as encoder). ``head`` may also be any
       scikit-learn classifier of waveform windows (labels 1 = event, 0 =
       background), which is cloned and fitted on the training windows. Classifier
       heads get the positive windows repeated until both classes are about
       equally many (the linear probe uses class weights instead).
    4. **Scores to events.** The recording after the last shot is cut into windows
       on a grid of half-window steps and read in chunks of ``chunk_seconds``, so
       memory does not grow with its length. Each half-window segment gets the mean
       probability of the (two) windows covering it; segments with a score of at
       least ``threshold`` form events; events separated by at most ``merge_gap``
       are merged; events shorter than ``min_duration_ratio`` times the shortest
       shot are removed (0.6, as DCASE's baseline post-processing).

    Parameters
    ----------
    encoder : transformer or None, default=None
        Maps a batch of waveform windows ``(n_windows, n_samples)`` to embeddings.
        ``None`` uses :class:`MelStatistics` (mean and standard deviation of 64
        log-mel bands, n_fft 512, hop 128: no learning). A fitted encoder, such as
        a pre-trained ``SupConPretrainer``, is used as it is; an unfitted one is
        fitted on the training windows with labels 1 (event) and 0 (background).
    n_shots : int, default=5
        Number of annotated events used (the first ones in time).
    sample_rate : int, default=16000
        Sample rate of the recording in Hz; must match the encoder's.
    window_seconds : "auto" or float, default="auto"
        Window length; ``"auto"`` follows :func:`adaptive_window_seconds`.
    head : {"linear", "finetune"} or classifier, default="linear"
        See 3. above. With a classifier, ``encoder`` is not used.
    C : float, default=1.0
        Inverse regularisation strength of the linear probe.
    finetune_blocks : int or "all", default=1
        With ``head="finetune"``: how many of the encoder's last blocks are trained
        (0 trains only the linear layer; Moummad et al.'s best system tuned 1).
    max_epochs : int, default=40
        With ``head="finetune"``: passes over the training windows (Moummad et al.: 40).
    lr : float, default=1e-3
        With ``head="finetune"``: Adam learning rate (Moummad et al.: 0.001).
    threshold : float, default=0.5
        Probability at or above which a segment belongs to an event.
    merge_gap : "auto" or float, default="auto"
        Events separated by at most this many seconds are merged; ``"auto"`` is one
        hop (half a window), which closes one-segment drop-outs inside a call.
    min_duration_ratio : float, default=0.6
        Events shorter than this fraction of the shortest shot are removed.
    max_negative_windows : int or None, default=1000
        Cap on background windows (None: all of them).
    chunk_seconds : float, default=60.0
        Audio processed at once when scoring; bounds memory (about
        ``2 * chunk_seconds * sample_rate`` float32 samples plus their features).
    batch_size : int, default=256
        Windows per call of the encoder.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of negative windows and fine-tuning.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Device for fine-tuning.
    verbose : int, default=0
        1 prints progress (audio time processed, speed) while scoring.

    Attributes
    ----------
    encoder_ : transformer or None
        The encoder used by the linear head (None with a classifier head).
    head_ : estimator
        The fitted binary classifier (a pipeline of scaler and logistic regression
        for the linear probe).
    shots_ : ndarray of dtype EVENT_DTYPE
        The annotated events used.
    window_samples_ : int
        Window length in samples (even), ``hop_samples_ = window_samples_ // 2``.
    hop_samples_ : int
    n_positive_windows_, n_negative_windows_ : int
    min_duration_ : float
        Shortest event kept, in seconds.
    merge_gap_ : float
        Merge gap in seconds.
    query_start_ : float
        End of the last shot: where :meth:`predict` starts by default.

    Examples
    --------
    >>> import numpy as np
    >>> from skfewaudio.detection import FewShotEventDetector
    >>> rng = np.random.RandomState(0)
    >>> sr = 8000
    >>> x = 0.01 * rng.randn(20 * sr).astype(np.float32)
    >>> t = np.arange(int(0.3 * sr)) / sr
    >>> onsets = np.arange(1.0, 20.0, 1.5)
    >>> for on in onsets:
    ...     x[int(on * sr): int(on * sr) + len(t)] += 0.5 * np.sin(2 * np.pi * 1000 * t)
    >>> shots = np.stack([onsets[:5], onsets[:5] + 0.3], axis=1)
    >>> det = FewShotEventDetector(sample_rate=sr, random_state=0).fit(x, shots)
    >>> events = det.predict(x)
    >>> len(events) == len(onsets) - 5
    True
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["transform"]), None],
        "n_shots": [Interval(Integral, 1, None, closed="left")],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "window_seconds": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "head": [StrOptions({"linear", "finetune"}), HasMethods(["fit", "predict_proba"])],
        "C": [Interval(Real, 0, None, closed="neither")],
        "finetune_blocks": [Interval(Integral, 0, None, closed="left"), StrOptions({"all"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "merge_gap": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "min_duration_ratio": [Interval(Real, 0, None, closed="left")],
        "max_negative_windows": [Interval(Integral, 1, None, closed="left"), None],
        "chunk_seconds": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "cuda", "auto"}), str],
        "verbose": ["verbose"],
    }

    def __init__(self, encoder=None, *, n_shots=5, sample_rate=16000, window_seconds="auto",
                 head="linear", C=1.0, finetune_blocks=1, max_epochs=40, lr=1e-3,
                 threshold=0.5, merge_gap="auto", min_duration_ratio=0.6,
                 max_negative_windows=1000, chunk_seconds=60.0, batch_size=256,
                 random_state=None, device="cpu", verbose=0):
        self.encoder = encoder
        self.n_shots = n_shots
        self.sample_rate = sample_rate
        self.window_seconds = window_seconds
        self.head = head
        self.C = C
        self.finetune_blocks = finetune_blocks
        self.max_epochs = max_epochs
        self.lr = lr
        self.threshold = threshold
        self.merge_gap = merge_gap
        self.min_duration_ratio = min_duration_ratio
        self.max_negative_windows = max_negative_windows
        self.chunk_seconds = chunk_seconds
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Learn the target sound from the first ``n_shots`` annotated events.

        Parameters
        ----------
        X : ndarray of shape (n_samples,), or str / PathLike
            The recording: a mono waveform at ``sample_rate`` (a ``np.memmap`` is
            read lazily) or the path of a sound file (read in pieces).
        y : array-like of shape (n_events, 2), structured event table or list of dicts
            Annotated events as (onset, offset) in seconds. The first ``n_shots``
            in time order are used; more may be given (e.g. a whole annotation
            file) and are ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If fewer than ``n_shots`` events are given, if shots overlap, lie
            outside the recording or have no duration, or if there is no
            background stretch of at least one window before or between them.
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                "FewShotEventDetector requires y to be passed, but the target y is None: "
                "give the annotated events as an array of (onset, offset) seconds."
            )
        recording = Recording(X, self.sample_rate)
        self.shots_ = _check_shots(y, self.n_shots, recording.duration)
        return self._fit(recording)

    def _fit(self, recording):
        sr = self.sample_rate
        durations = self.shots_["offset"] - self.shots_["onset"]
        seconds = (adaptive_window_seconds(durations) if self.window_seconds == "auto"
                   else float(self.window_seconds))
        # An even window makes the hop exactly half of it, so segments tile the grid.
        self.window_samples_ = max(2, 2 * int(round(seconds * sr / 2)))
        self.hop_samples_ = self.window_samples_ // 2
        if self.window_samples_ > recording.n_samples:
            raise ValueError(
                f"the window ({self.window_samples_ / sr:.3f} s) is longer than the "
                f"recording ({recording.duration:.3f} s)."
            )
        rng = check_random_state(self.random_state)
        positive = _positive_starts(self.shots_, self.window_samples_, self.hop_samples_,
                                    sr, recording.n_samples)
        negative = _negative_starts(self.shots_, self.window_samples_, self.hop_samples_, sr)
        if len(negative) == 0:
            raise ValueError(
                f"no background stretch of at least one window ({self.window_samples_ / sr:.3f}"
                " s) lies before or between the shots, so there are no negative examples; "
                "annotate shots that leave gaps, or set a shorter window_seconds."
            )
        if self.max_negative_windows is not None and len(negative) > self.max_negative_windows:
            negative = np.sort(rng.choice(negative, self.max_negative_windows, replace=False))
        self.n_positive_windows_, self.n_negative_windows_ = len(positive), len(negative)
        windows = recording.windows(np.concatenate([positive, negative]), self.window_samples_)
        labels = np.r_[np.ones(len(positive), int), np.zeros(len(negative), int)]

        if isinstance(self.head, str) and self.head == "linear":
            self.encoder_ = self._ready_encoder(windows, labels)
            self.head_ = make_pipeline(
                StandardScaler(),
                LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000),
            ).fit(self._embed(windows), labels)
        else:
            self.encoder_ = None  # the classifier head embeds windows itself
            head = self._finetune_head(rng) if isinstance(self.head, str) else clone(self.head)
            # Few positives among many negatives: a plain cross-entropy learns "never".
            # Repeating the positive windows balances the classes (augmentation inside
            # the head, if any, makes the copies differ).
            repeat = max(1, int(round(len(negative) / max(1, len(positive)))))
            balanced = np.r_[np.repeat(np.arange(len(positive)), repeat),
                             np.arange(len(positive), len(labels))]
            self.head_ = head.fit(windows[balanced], labels[balanced])
        shortest = float(durations.min())
        self.min_duration_ = self.min_duration_ratio * shortest
        self.merge_gap_ = (self.hop_samples_ / sr if self.merge_gap == "auto"
                           else float(self.merge_gap))
        self.query_start_ = float(self.shots_["offset"][-1])
        return self

    def _ready_encoder(self, windows, labels):
        if self.encoder is None:
            encoder = MelStatistics(sample_rate=self.sample_rate, n_fft=512, hop_length=128,
                                    n_mels=64)
            return encoder.fit(windows[:1])
        params = self.encoder.get_params(deep=False) if hasattr(self.encoder, "get_params") else {}
        rate = params.get("sample_rate")
        if isinstance(rate, Integral) and rate != self.sample_rate:
            raise ValueError(
                f"the encoder works at sample_rate={rate} but the detector at "
                f"{self.sample_rate}; resample the recording and set both to the same rate."
            )
        try:
            check_is_fitted(self.encoder)
        except NotFittedError:
            return clone(self.encoder).fit(windows, labels)
        return self.encoder

    def _embed(self, windows):
        parts = [as_2d_embedding(self.encoder_.transform(windows[i: i + self.batch_size]))
                 for i in range(0, len(windows), self.batch_size)]
        return np.concatenate(parts)

    def _finetune_head(self, rng):
        """Moummad et al.'s fine-tuning head: a linear layer on the pre-trained network,
        training its last ``finetune_blocks`` blocks too (``FineTuneClassifier``)."""
        inner = getattr(self.encoder, "estimator", self.encoder)  # FrozenEstimator
        if self.encoder is None or not hasattr(inner, "net_"):
            raise ValueError(
                "head='finetune' needs a fitted pre-trained network as encoder (a "
                "skfewaudio.supcon.SupConPretrainer); "
                f"{'the default MelStatistics' if self.encoder is None else type(inner).__name__}"
                " has no network to fine-tune. Use head='linear', or pass any classifier "
                "of waveform windows as head."
            )
        from ..supcon import FineTuneClassifier

        return FineTuneClassifier(
            inner, n_blocks=self.finetune_blocks, max_epochs=self.max_epochs, lr=self.lr,
            batch_size=min(self.batch_size, 32), device=self.device,
            random_state=rng.randint(2**31 - 1),
        )

    def _window_probabilities(self, windows):
        if self.encoder_ is not None:
            return self.head_.predict_proba(self._embed(windows))[:, 1]
        column = list(self.head_.classes_).index(1)
        return self.head_.predict_proba(windows)[:, column]

    # -------------------------------------------------------------- predict
    def window_scores(self, X, *, start=None, stop=None):
        """Probability of the target sound in each window, computed chunk by chunk.

        Parameters
        ----------
        X : ndarray of shape (n_samples,), or str / PathLike
            The recording (as in :meth:`fit`).
        start : float or None, default=None
            First time scored, in seconds; ``None`` is the end of the last shot
            (``query_start_``) when ``X`` is long enough, else 0.
        stop : float or None, default=None
            Last time scored; ``None`` is the end of the recording.

        Returns
        -------
        windows : ndarray of dtype EVENT_DTYPE, shape (n_windows,)
            Onset, offset and probability of each window; windows start every
            half window from ``start``.
        """
        check_is_fitted(self)
        recording = Recording(X, self.sample_rate)
        first, n_windows = self._query_grid(recording, start, stop)
        win, hop, sr = self.window_samples_, self.hop_samples_, self.sample_rate
        per_chunk = max(1, int(self.chunk_seconds * sr) // hop)
        scores = np.empty(n_windows, dtype=np.float64)
        began = time.perf_counter()
        for k0 in range(0, n_windows, per_chunk):
            k1 = min(n_windows, k0 + per_chunk)
            lo = first + k0 * hop
            block = recording.read(lo, first + (k1 - 1) * hop + win)
            # Views, not copies: (k1 - k0, win) windows over the block.
            view = np.lib.stride_tricks.sliding_window_view(block, win)[::hop]
            scores[k0:k1] = self._window_probabilities(np.ascontiguousarray(view[: k1 - k0]))
            if self.verbose:
                done = (first + (k1 - 1) * hop + win) / sr
                spent = time.perf_counter() - began
                print(f"[FewShotEventDetector] scored up to {done:.1f} s of "
                      f"{recording.duration:.1f} s ({100 * k1 / n_windows:.0f}%), "
                      f"{(done - first / sr) / max(spent, 1e-9):.0f} s of audio per s",
                      file=sys.stderr, flush=True)
        table = np.empty(n_windows, dtype=EVENT_DTYPE)
        table["onset"] = (first + np.arange(n_windows) * hop) / sr
        table["offset"] = table["onset"] + win / sr
        table["score"] = scores
        return table

    def _query_grid(self, recording, start, stop):
        sr, win = self.sample_rate, self.window_samples_
        if start is None:
            fits = self.query_start_ * sr + win <= recording.n_samples
            start = self.query_start_ if fits else 0.0
        end = recording.n_samples if stop is None else min(recording.n_samples,
                                                           int(round(stop * sr)))
        first = int(round(start * sr))
        if first < 0 or first + win > end:
            raise ValueError(
                f"nothing to score: from {start:.3f} s to {end / sr:.3f} s there is no full "
                f"window of {win / sr:.3f} s."
            )
        return first, (end - first - win) // self.hop_samples_ + 1

    def predict(self, X, *, start=None, stop=None):
        """Detect events after the shots.

        Parameters
        ----------
        X : ndarray of shape (n_samples,), or str / PathLike
            The recording (usually the one given to :meth:`fit`).
        start, stop : float or None
            Time span searched, as in :meth:`window_scores`.

        Returns
        -------
        events : ndarray of dtype EVENT_DTYPE, shape (n_events,)
            Fields ``onset``, ``offset`` (seconds) and ``score`` (the highest
            segment probability inside the event), sorted by onset. Use
            :func:`events_to_records` for a list of dicts and
            :func:`write_events_csv` for a DCASE CSV.
        """
        return self.events_from_scores(self.window_scores(X, start=start, stop=stop))

    def events_from_scores(self, windows):
        """Post-process window scores (from :meth:`window_scores`) into events.

        Each half-window segment gets the mean score of the windows covering it,
        then thresholding, merging and the minimum duration apply (class doc, 4).
        """
        check_is_fitted(self)
        if len(windows) == 0:
            return np.empty(0, dtype=EVENT_DTYPE)
        scores = windows["score"]
        # Segment j is covered by windows j - 1 and j (hop = half a window).
        sums = np.zeros(len(scores) + 1)
        counts = np.zeros(len(scores) + 1)
        sums[:-1] += scores
        sums[1:] += scores
        counts[:-1] += 1
        counts[1:] += 1
        step = self.hop_samples_ / self.sample_rate
        return scores_to_events(sums / counts, start=float(windows["onset"][0]), step=step,
                                threshold=self.threshold, merge_gap=self.merge_gap_,
                                min_duration=self.min_duration_)

    def fit_predict(self, X, y):
        """Fit on the shots of ``X`` and detect the events after them."""
        return self.fit(X, y).predict(X)

    @classmethod
    def get_test_params(cls):
        """Small, fast settings for the common estimator checks."""
        return {"random_state": 0, "max_negative_windows": 50}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit takes ONE recording (a 1-D waveform) and its annotated (onset, offset)
        # times, not a table (n_samples, n_features): scikit-learn's table-based checks
        # do not apply. tests/test_common.py runs the API checks that do, and tests the
        # rest (idempotent fit, pickling...) on recordings.
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.non_deterministic = False
        tags.target_tags.required = True
        return tags


def _check_shots(y, n_shots, duration):
    """Validate annotated events; return the first ``n_shots`` as an event table."""
    from ._events import as_event_table

    if isinstance(y, np.ndarray) and y.dtype.names is None and y.ndim != 2:
        raise ValueError(f"y must have shape (n_events, 2) (onset, offset); got {y.shape}.")
    try:
        shots = as_event_table(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot read the annotated events y: {exc}") from exc
    if len(shots) < n_shots:
        raise ValueError(
            f"{len(shots)} annotated event(s) given but n_shots={n_shots}; annotate "
            f"{n_shots} events or lower n_shots."
        )
    shots = shots[:n_shots]
    for i, (on, off, _) in enumerate(shots):
        if off <= on:
            raise ValueError(f"shot {i} ({on:.3f}-{off:.3f} s) has no duration.")
        if on < 0 or off > duration + 1e-9:
            raise ValueError(
                f"shot {i} ({on:.3f}-{off:.3f} s) lies outside the recording "
                f"(0-{duration:.3f} s)."
            )
    for i in range(1, len(shots)):
        if shots["onset"][i] < shots["offset"][i - 1]:
            raise ValueError(
                f"shots {i - 1} ({shots['onset'][i - 1]:.3f}-{shots['offset'][i - 1]:.3f} s) "
                f"and {i} ({shots['onset'][i]:.3f}-{shots['offset'][i]:.3f} s) overlap; "
                "annotated events must be disjoint."
            )
    return shots


def _positive_starts(shots, win, hop, sr, n_samples):
    starts = []
    for on, off, _ in shots:
        a, b = int(round(on * sr)), int(round(off * sr))
        if b - a >= win:
            inside = list(range(a, b - win + 1, hop))
            if inside[-1] + win < b:  # cover the end of the shot too
                inside.append(b - win)
            starts.extend(inside)
        else:
            starts.append(min(max(0, (a + b) // 2 - win // 2), n_samples - win))
    return np.asarray(starts, dtype=np.int64)


def _negative_starts(shots, win, hop, sr):
    bounds = np.r_[0.0, shots["offset"][:-1]], shots["onset"]
    starts = []
    for lo, hi in zip(*bounds):
        a, b = int(round(lo * sr)), int(round(hi * sr))
        starts.extend(range(a, b - win + 1, hop))
    return np.asarray(starts, dtype=np.int64)
