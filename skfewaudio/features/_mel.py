"""Log-mel spectrogram and pooled log-mel statistics as scikit-learn transformers."""

from functools import lru_cache
from numbers import Integral, Real

import librosa
import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from .._torch_utils import length_groups, pad_or_crop, resolve_device
from .._validation import (
    TRANSFORMER_EXPECTED_FAILED_CHECKS,
    is_spectrogram_batch,
    validate_audio_after_fit,
    validate_fit_audio,
    warn_padded_clips,
)
from ..nn.frontend import LogMelSpectrogram, pcen_smoothing
from ..nn.statistics import mean_std_over_time

_FRONTEND_CONSTRAINTS = {
    "sample_rate": [Interval(Integral, 1, None, closed="left")],
    "n_fft": [Interval(Integral, 2, None, closed="left")],
    "hop_length": [Interval(Integral, 1, None, closed="left")],
    "n_mels": [Interval(Integral, 1, None, closed="left")],
    "fmin": [Interval(Real, 0, None, closed="left")],
    "fmax": [Interval(Real, 0, None, closed="neither"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "device": [StrOptions({"cpu", "cuda", "auto"}), str],
}

def build_log_mel(*, sample_rate, n_fft, hop_length, n_mels, fmin=0.0, fmax=None, log=True,
                  standardize_waveforms=False, db_mean=0.0, db_std=1.0, compression="log",
                  pcen_time_constant=0.4, frequency_scale="mel"):
    """A :class:`~skfewaudio.nn.LogMelSpectrogram` with librosa's (Slaney) mel filters.

    ``compression="pcen"`` replaces the decibels by PCEN of the mel magnitudes (not
    powers, as librosa advises), smoothed over ``pcen_time_constant`` seconds
    (librosa's default, 0.4 s).
    ``frequency_scale="linear"`` spaces the ``n_mels`` triangular bands evenly in Hz
    instead of on the mel scale (see ``_linear_filters``).
    """
    if frequency_scale == "linear":
        filters = _linear_filters(sample_rate, n_fft, n_mels, fmin, fmax)
    else:
        filters = _mel_filters(sample_rate, n_fft, n_mels, fmin, fmax)
    pcen = compression == "pcen"
    return LogMelSpectrogram(filters, n_fft=n_fft, hop_length=hop_length, log=log,
                             power=1.0 if pcen else 2.0,
                             pcen_smoothing=pcen_smoothing(sample_rate, hop_length,
                                                            pcen_time_constant) if pcen
                             else None,
                             standardize_waveforms=standardize_waveforms, db_mean=db_mean,
                             db_std=db_std)


@lru_cache(maxsize=32)
def _mel_filters(sample_rate, n_fft, n_mels, fmin, fmax):
    # librosa builds the filterbank in about 2 ms: the whole cost of a one-clip call.
    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                  fmax=fmax)
    filters.flags.writeable = False  # shared by every module built from the cache
    return filters


@lru_cache(maxsize=32)
def _linear_filters(sample_rate, n_fft, n_bands, fmin=0.0, fmax=None):
    """Triangular filters evenly spaced in Hz, shaped like librosa's mel filters.

    Each band rises from its lower neighbour's centre to its own and falls to its
    upper neighbour's, and is scaled to unit area like librosa's Slaney filters, so
    only the spacing of the centres differs from :func:`librosa.filters.mel`. At the
    defaults (128 bands to 8 kHz) the centres are 62 Hz apart: finer than mel bands
    above 2.5 kHz (1.6 times at 4 kHz, 3 times at 8 kHz), where many environmental
    sounds keep their detail, and 2.7 times coarser below 1 kHz.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    edges = np.linspace(fmin, fmax, n_bands + 2)
    bins = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    rising = (bins - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins) / np.diff(edges)[1:, None]
    area = 2.0 / (edges[2:] - edges[:-2])
    filters = (np.maximum(0.0, np.minimum(rising, falling)) * area[:, None]).astype(np.float32)
    filters.flags.writeable = False
    return filters


def run_in_batches(module, waveforms, *, batch_size, device):
    """Apply ``module`` to a 2-D float32 array in batches; return a numpy array.

    ``batch_size=None`` picks 4 clips on CPU, where small batches keep each STFT in
    cache (2-4 measured fastest for 5 s clips on 2 threads, 32 and more 3x slower),
    and 256 on a GPU.
    """
    if batch_size is None:
        batch_size = 4 if str(device) == "cpu" else 256
    module = module.to(device)
    out = None
    with torch.inference_mode():
        for start in range(0, len(waveforms), batch_size):
            batch = torch.from_numpy(waveforms[start : start + batch_size]).to(device)
            result = module(batch).cpu().numpy()
            if out is None:  # written in place: no list of batches to concatenate
                out = np.empty((len(waveforms),) + result.shape[1:], dtype=result.dtype)
            out[start : start + len(result)] = result
    return out


class MelSpectrogram(TransformerMixin, BaseEstimator):
    """Log-mel spectrogram of waveforms, batched with ``torch.stft``.

    Matches ``librosa.feature.melspectrogram`` (centred frames, zero padding, periodic
    Hann window, Slaney mel filters) followed by ``librosa.power_to_db`` with no
    ``top_db`` clipping. Runs on CPU or GPU.

    Length policy: every clip is brought to one length, ``n_samples_``, before the
    STFT so that the output is one 3-D array. ``n_samples_`` is ``duration *
    sample_rate`` when ``duration`` is set, otherwise the longest clip seen in ``fit``.
    Longer clips keep their first ``n_samples_`` samples, shorter ones are zero-padded
    at the end. To use every part of long recordings, cut them into windows first.

    Parameters
    ----------
    sample_rate : int, default=16000
        Sample rate of the input clips in Hz.
    n_fft : int, default=1024
    hop_length : int, default=512
    n_mels : int, default=128
    fmin : float, default=0.0
    fmax : float or None, default=None
        Highest mel band edge; ``None`` means ``sample_rate / 2``.
    log : bool, default=True
        Return decibels rather than mel power.
    duration : float or None, default=None
        Fixed clip duration in seconds (see the length policy above).
    batch_size : int or None, default=None
        Clips per STFT call; None means 4 on CPU (fastest: the spectrogram stays in
        cache) and 256 on GPU.
    device : {"cpu", "cuda", "auto"} or str, default="cpu"

    Attributes
    ----------
    n_samples_ : int
        Samples per clip after padding/cropping.
    n_frames_ : int
        Frames per output spectrogram.
    """

    _parameter_constraints = {
        **_FRONTEND_CONSTRAINTS,
        "log": ["boolean"],
        "duration": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, *, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128,
                 fmin=0.0, fmax=None, log=True, duration=None, batch_size=None,
                 device="cpu"):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.log = log
        self.duration = duration
        self.batch_size = batch_size
        self.device = device

    def fit(self, X, y=None):
        """Fix the output length.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        y : ignored
        """
        self._validate_params()
        X = validate_fit_audio(self, X, spectrograms=False)
        if self.duration is not None:
            self.n_samples_ = max(1, int(round(self.duration * self.sample_rate)))
        else:
            self.n_samples_ = max(len(clip) for clip in X)
        self.n_frames_ = 1 + self.n_samples_ // self.hop_length
        return self

    def transform(self, X):
        """Compute log-mel spectrograms.

        Returns
        -------
        spectrograms : ndarray of shape (n_clips, n_mels, n_frames_)
        """
        X = validate_audio_after_fit(self, X, spectrograms=False)
        warn_padded_clips(X, self.n_samples_, "the spectrogram length n_samples_")
        module = build_log_mel(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, log=self.log,
        )
        return run_in_batches(
            module, pad_or_crop(X, self.n_samples_), batch_size=self.batch_size,
            device=resolve_device(self.device),
        )

    _expected_failed_checks = TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class MelStatistics(TransformerMixin, BaseEstimator):
    """Mean and standard deviation of each log-mel band over time: a fixed embedding.

    This is the no-learning baseline embedding of :class:`PrototypeClassifier`.
    Pooling over time makes it independent of clip length: clips of different lengths
    are processed in groups of equal length, never padded.

    Accepts waveforms (with this transformer's own front-end parameters) or the 3-D
    output of :class:`MelSpectrogram` (then the front-end parameters are unused).

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels, fmin, fmax, batch_size, device
        As in :class:`MelSpectrogram`.

    Attributes
    ----------
    n_features_out_ : int
        ``2 * n_mels`` (means, then standard deviations).
    """

    _parameter_constraints = dict(_FRONTEND_CONSTRAINTS)

    def __init__(self, *, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128,
                 fmin=0.0, fmax=None, batch_size=None, device="cpu"):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.batch_size = batch_size
        self.device = device

    def fit(self, X, y=None):
        """Check parameters and input; nothing is learned."""
        self._validate_params()
        X = validate_fit_audio(self, X)
        self.n_features_out_ = 2 * (X.shape[1] if is_spectrogram_batch(X) else self.n_mels)
        return self

    def transform(self, X):
        """Pool log-mel spectrograms over time.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, 2 * n_mels)
        """
        X = validate_audio_after_fit(self, X)
        if is_spectrogram_batch(X):
            return _mean_std_over_time(X)
        warn_padded_clips(X, self.n_fft, "one STFT frame (n_fft)")
        module = build_log_mel(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
        )
        return pool_by_length(X, module, _mean_std_over_time, 2 * self.n_mels,
                              batch_size=self.batch_size, device=resolve_device(self.device))

    _expected_failed_checks = TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def pool_by_length(X, module, pool, n_features, *, batch_size, device, dtype=np.float32):
    """``pool`` of the log-mel spectrograms of clips of any lengths, never padded.

    Clips are processed in groups of equal length; ``pool`` maps a batch of
    spectrograms ``(n, n_mels, n_frames)`` to ``(n, n_features)``. ``dtype`` is that
    of the samples the module sees and of the result.
    """
    out = np.empty((len(X), n_features), dtype=dtype)
    for group in length_groups(X):
        clips = X[group] if isinstance(X, np.ndarray) else np.stack([X[i] for i in group])
        spec = run_in_batches(module, clips.astype(dtype, copy=False), batch_size=batch_size,
                              device=device)
        out[group] = pool(spec)
    return out


def _mean_std_over_time(spectrograms):
    """:func:`~skfewaudio.nn.statistics.mean_std_over_time` of a numpy array (copied
    into torch: the caller's array may be read-only)."""
    return mean_std_over_time(torch.tensor(spectrograms)).numpy()
