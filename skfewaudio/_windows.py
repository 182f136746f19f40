"""Fixed-size log-mel windows for the networks, and combining them back per clip.

Networks see spectrograms of one size. Policy (MetaAudio's): a clip is cut into
consecutive, non-overlapping windows of ``window_seconds``; the last, partial window
is kept only when the clip has no full one (then it is zero-padded). Each window is
embedded or classified on its own and the results are combined per clip (mean of
embeddings or of probabilities, which acts as a soft vote).
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._torch_utils import resolve_device
from ._validation import is_spectrogram_batch, warn_padded_clips
from .features._mel import _FRONTEND_CONSTRAINTS, build_log_mel, run_in_batches


@dataclass
class WindowedSpectrograms:
    """Log-mel windows and the clip each came from.

    Attributes
    ----------
    spectrograms : ndarray of shape (n_windows, n_mels, n_frames)
    owner : ndarray of shape (n_windows,)
        Index of the clip of each window.
    n_clips : int
    """

    spectrograms: np.ndarray
    owner: np.ndarray
    n_clips: int

    def with_spectrograms(self, spectrograms):
        return WindowedSpectrograms(spectrograms, self.owner, self.n_clips)


@dataclass
class LogMelWindows:
    """Front-end settings of a network: clips in, normalised log-mel windows out.

    Each waveform is first z-normalised (zero mean, unit variance, as MetaAudio), so
    recording level does not matter. ``fit`` then learns one mean and standard
    deviation over all training spectrogram values (training data only, as MetaAudio).
    ``compression="pcen"`` compresses the mel magnitudes with PCEN instead of decibels
    (smoothed over ``pcen_time_constant`` seconds);
    ``frequency_scale="linear"`` spaces the bands evenly in Hz instead of in mels.
    """

    sample_rate: int = 16000
    n_mels: int = 128
    n_fft: int = 1024
    hop_length: int = 512
    window_seconds: float = 5.0
    compression: str = "log"
    pcen_time_constant: float = 0.4
    frequency_scale: str = "mel"
    batch_size: int | None = None
    device: str = "cpu"

    @property
    def window_samples(self):
        return max(1, int(round(self.window_seconds * self.sample_rate)))

    @property
    def window_frames(self):
        return 1 + self.window_samples // self.hop_length

    def fit(self, X):
        windows = self.transform(X, normalize=False)
        self.mean_ = float(windows.spectrograms.mean())
        self.std_ = float(windows.spectrograms.std()) or 1.0
        return windows.with_spectrograms(self._normalize(windows.spectrograms))

    def transform(self, X, normalize=True):
        """Cut validated clips (or 3-D spectrograms) into windows.

        Returns
        -------
        windows : WindowedSpectrograms
        """
        if is_spectrogram_batch(X):
            return self._cut_spectrograms(X, normalize)
        return self._waveform_windows(X, normalize)

    def _cut_spectrograms(self, X, normalize):
        if X.shape[1] != self.n_mels:
            raise ValueError(
                f"spectrograms have {X.shape[1]} mel bands but the network was "
                f"set up for n_mels={self.n_mels}."
            )
        pieces, owner = _cut(list(X), self.window_frames, axis=1)
        specs = np.stack(pieces).astype(np.float32, copy=False)
        if normalize:
            specs = self._normalize(specs)
        return WindowedSpectrograms(specs, owner, len(X))

    def _waveform_windows(self, X, normalize):
        warn_padded_clips(X, self.window_samples,
                          f"the network's {self.window_seconds:g} s window")
        # Clips of exactly one window are z-normalised by the module, batch by batch
        # in cache (the common case: ESC-50's 5 s clips); others first.
        one_window_each = isinstance(X, np.ndarray) and X.shape[1] == self.window_samples
        if one_window_each:
            pieces, owner = X, np.arange(len(X))
        else:
            pieces, owner = _cut_waveforms(X, self.window_samples)
        # The module applies the fitted standardisation too, while each batch is in cache.
        mean, std = (self.mean_, self.std_) if normalize else (0.0, 1.0)
        module = build_log_mel(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, standardize_waveforms=one_window_each, db_mean=mean,
            db_std=std, compression=self.compression,
            pcen_time_constant=self.pcen_time_constant, frequency_scale=self.frequency_scale,
        )
        specs = run_in_batches(module, pieces, batch_size=self.batch_size,
                               device=resolve_device(self.device))
        return WindowedSpectrograms(specs, owner, len(X))

    def _normalize(self, specs):
        """Standardise in place (``specs`` is a fresh float32 array)."""
        specs -= np.float32(self.mean_)
        specs /= np.float32(self.std_)
        return specs


# The network estimators' parameters that set their front-end (LogMelWindows' fields
# of the same names), with their checks: one list for every estimator that has them.
FRONT_END_CONSTRAINTS = {
    **{name: _FRONTEND_CONSTRAINTS[name]  # the STFT and mel settings, as MelSpectrogram's
       for name in ("sample_rate", "n_mels", "n_fft", "hop_length")},
    "window_seconds": [Interval(Real, 0, None, closed="neither")],
    "compression": [StrOptions({"log", "pcen"})],
    "pcen_time_constant": [Interval(Real, 0, None, closed="neither")],
    "frequency_scale": [StrOptions({"mel", "linear"})],
}


def front_end_of(estimator, device):
    """The :class:`LogMelWindows` an estimator's front-end parameters describe."""
    return LogMelWindows(**{name: getattr(estimator, name) for name in FRONT_END_CONSTRAINTS},
                         device=device)


def _z_normalize(clips):
    """Zero mean, unit variance per clip (along the last axis), as float32.

    Two passes fewer than ``(x - x.mean()) / x.std()``: the centred copy is reused
    for the variance and scaled in place.
    """
    mean = clips.mean(axis=-1, keepdims=True, dtype=np.float64)
    out = np.subtract(clips, mean.astype(np.float32))
    std = np.sqrt(np.einsum("...i,...i->...", out, out) / clips.shape[-1])[..., None]
    out *= (1.0 / (std + 1e-8)).astype(np.float32)
    return out


def _cut_waveforms(clips, size):
    """z-normalised windows of ``size`` samples as one 2-D array, and their owners.

    Clips of one length (a 2-D array) are cut with one reshape; a list of clips of
    different lengths goes clip by clip through :func:`_cut`.
    """
    if isinstance(clips, np.ndarray) and clips.shape[1] >= size:
        n_full = clips.shape[1] // size
        windows = _z_normalize(clips)[:, : n_full * size].reshape(-1, size)
        return windows, np.repeat(np.arange(len(clips)), n_full)
    pieces, owner = _cut([_z_normalize(clip) for clip in clips], size, axis=0)
    return np.stack(pieces), owner


def _cut(clips, size, axis):
    """Split each clip into full windows of ``size`` along ``axis`` (see module doc)."""
    pieces, owner = [], []
    for index, clip in enumerate(clips):
        length = clip.shape[axis]
        n_full = length // size
        if n_full == 0:
            pad = [(0, 0)] * clip.ndim
            pad[axis] = (0, size - length)
            pieces.append(np.pad(clip, pad))
            owner.append(index)
            continue
        for k in range(n_full):
            pieces.append(clip[(slice(None),) * axis + (slice(k * size, (k + 1) * size),)])
            owner.append(index)
    return pieces, np.asarray(owner)


def window_starts(n_samples, window, hop):
    """Starts of windows every ``hop`` samples, plus one ending at the last sample.

    A recording shorter than a window gets one window (0, n_samples).
    """
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n_samples:  # cover the tail too
        starts = np.append(starts, n_samples - window)
    return starts


def combine_by_clip(values, owner, n_clips):
    """Mean of per-window ``values`` (n_windows, ...) for each clip -> (n_clips, ...)."""
    values = np.asarray(values)
    sums = np.zeros((n_clips,) + values.shape[1:], dtype=np.float64)
    np.add.at(sums, owner, values)
    counts = np.bincount(owner, minlength=n_clips).reshape((-1,) + (1,) * (values.ndim - 1))
    return (sums / counts).astype(values.dtype)
