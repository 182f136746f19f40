"""Standardised log-mel, MFCC and sound-texture statistics: the no-learning embedding
of :class:`~skfewaudio.PrototypeClassifier`."""

import json
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import scipy.fft
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from .._torch_utils import resolve_device
from .._validation import (
    TRANSFORMER_EXPECTED_FAILED_CHECKS,
    is_spectrogram_batch,
    validate_audio_after_fit,
    validate_fit_audio,
    warn_padded_clips,
)
from ._mel import _FRONTEND_CONSTRAINTS, _mean_std_over_time, build_log_mel, pool_by_length
from ._texture import texture_block_sizes, texture_features

PRIOR_PATH = Path(__file__).resolve().parent / "spectral_prior.json"


@lru_cache(maxsize=1)
def load_prior():
    """The shipped standardisation prior: its front-end settings, centre and scale.

    Computed from the 35 ESC-50 train classes by
    ``benchmarks/spectral_cv_esc50.py --write-prior``.
    """
    prior = json.loads(PRIOR_PATH.read_text())
    for key in ("center", "scale", "texture_center", "texture_scale"):
        prior[key] = np.asarray(prior[key], dtype=np.float64)
    return prior


def spectral_features(log_mel, n_mfcc, top_db, frame_rate=None):
    """Unstandardised embedding of log-mel spectrograms.

    Parameters
    ----------
    log_mel : ndarray of shape (n_clips, n_mels, n_frames)
        In decibels.
    n_mfcc : int
    top_db : float or None
        Each clip's log-mel is first floored at its maximum minus ``top_db``, as
        ``librosa.power_to_db(top_db=...)`` does; None keeps it as it is.
    frame_rate : float or None
        Frames per second. When given, the texture statistics of
        :func:`~skfewaudio.features._texture.texture_features` are appended.

    Returns
    -------
    features : ndarray of shape (n_clips, 2 * n_mels + 2 * n_mfcc [+ texture])
        Mean and std over time of each log-mel band, then of each MFCC, then the
        texture statistics.
    """
    if top_db is not None:
        log_mel = np.maximum(log_mel, log_mel.max(axis=(1, 2), keepdims=True) - top_db)
    parts = [_mean_std_over_time(log_mel)]
    if n_mfcc:
        parts.append(_mean_std_over_time(mfcc(log_mel, n_mfcc)))
    if frame_rate is not None:
        parts.append(texture_features(log_mel, frame_rate))
    return np.concatenate(parts, axis=1)


def n_features(n_mels, n_mfcc, texture):
    return 2 * n_mels + 2 * n_mfcc + (sum(texture_block_sizes(n_mels)) if texture else 0)


def block_weights(n_mels, n_mfcc, texture_weight=0.0):
    """Per-feature weight after standardisation, so that each block carries its share
    of the total variance (a standardised feature has variance 1).

    The log-mel block (``2 * n_mels`` features) and the MFCC block (``2 * n_mfcc``)
    carry equal variance; with ``texture_weight`` > 0 the three texture blocks
    together carry that fraction of the whole, a third each.

    Returns
    -------
    weights : ndarray of shape (n_features(n_mels, n_mfcc, texture_weight > 0),)
    """
    mel_weight = np.sqrt(n_mfcc / n_mels) if n_mfcc else 1.0
    weights = [np.full(2 * n_mels, mel_weight), np.ones(2 * n_mfcc)]
    if texture_weight > 0:
        spectral_variance = 2 * n_mels * mel_weight**2 + 2 * n_mfcc
        per_block = texture_weight / (1 - texture_weight) * spectral_variance / 3
        weights += [np.full(size, np.sqrt(per_block / size))
                    for size in texture_block_sizes(n_mels)]
    return np.concatenate(weights)


def mfcc(log_mel, n_mfcc):
    """MFCCs as in ``librosa.feature.mfcc(S=log_mel)``: orthonormal DCT-II over bands.

    Returns
    -------
    mfcc : ndarray of shape (n_clips, n_mfcc, n_frames)
    """
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, :n_mfcc]


class SpectralStatistics(TransformerMixin, BaseEstimator):
    """Standardised mean and std over time of log-mel bands and MFCCs: a fixed embedding.

    The default encoder of :class:`PrototypeClassifier`: no learning. Each clip's
    log-mel spectrogram (in dB) is floored at its maximum minus ``top_db``; the
    embedding is the mean and standard deviation over time of each band and of its
    first ``n_mfcc`` MFCCs (orthonormal DCT-II over bands, as ``librosa.feature.mfcc``),
    each feature then centred and scaled. Pooling over time makes it independent of
    clip length: clips of different lengths are processed in groups of equal length,
    never padded.

    With ``texture_weight`` above 0 (the default) it also holds sound-texture
    statistics (McDermott and Simoncelli, 2011): the modulation power of the band
    envelopes between 0.2 and 16 Hz, and the correlations over time between band
    envelopes and between MFCCs (``skfewaudio/features/_texture.py``). They describe
    how a sound fluctuates - a clock's tick, fire's crackle, rain's hiss - which means
    and deviations over time cannot.

    Accepts waveforms (with this transformer's own front-end parameters) or the 3-D
    output of :class:`MelSpectrogram` (then only ``sample_rate / hop_length``, the
    frame rate that places the modulation bands, is used: give the values the
    spectrograms were made with).

    **Why these choices** (class-disjoint cross-validation on the 35 ESC-50 train
    classes, 5 folds of 7, ``benchmarks/results/spectral_cv_esc50.md``; figures for the
    cosine metric, 1-shot / 5-shot). The floor keeps stretches of digital silence (-100
    dB) from dominating the band deviations (+6.0 / +8.8 points against no floor; 50 dB
    beat 40, 60 and 80). MFCC statistics beside the band statistics add 6.6 / 9.5 points
    (64 coefficients beat 0 to 40, 96 and 128). After standardisation the log-mel block
    (``2 * n_mels`` features) is down-weighted so that it carries the same total
    variance as the MFCC block (``2 * n_mfcc``); scaling every feature alike lost 1.4 /
    1.8 points. Texture statistics sharing half the variance (``texture_weight=0.5``)
    then added 3.4 / 3.8 points (54.95 / 69.45 -> 58.38 / 73.28; 0.3 was within 0.1,
    0.2 and 0.7 were lower).

    **Standardisation.** Raw features differ in scale by orders of magnitude (the
    first MFCC's mean is in the hundreds, band deviations are a few dB), so without
    scaling a few features decide every distance (raw features scored 9.3 / 8.4
    points lower). Three choices:

    * ``"prior"`` (default): a fixed centre and scale shipped with the library, the
      feature means and standard deviations of the 1,400 clips of the 35 ESC-50
      train classes (a generic-audio prior; ``benchmarks/spectral_cv_esc50.py
      --write-prior`` recomputes it). Nothing is learned in ``fit``, so a
      classifier's few support clips never set the scaling, and episodic evaluation
      embeds every clip once with a transformer fitted without data. It needs
      ``n_mels=128`` (any ``n_mfcc``); it was computed at 16 kHz with ``n_fft=1024``,
      ``hop_length=512`` and ``top_db=50``, and is an approximation at other
      settings. In cross-validation each fold's prior came from the other 28
      classes only.
    * ``"fit"``: ``fit(X)`` learns the centre and scale from ``X``. This is how to do
      better in a domain unlike ESC-50's (birds, machines, underwater, speech...):
      fit on unlabelled clips of that domain, as many as you have and of any
      classes, and pass the fitted transformer as the encoder, wrapped in
      ``sklearn.frozen.FrozenEstimator`` so that ``clone`` keeps it. On ESC-50
      itself, whose prior is already in-domain, fitting on the unlabelled clips of
      the evaluated classes did not beat the prior: +0.2 / -0.8 points in
      cross-validation (280 clips), -0.5 / -2.2 on the 5 val classes (200 clips,
      ``benchmarks/results/baseline_esc50_val.md``).
    * ``None``: raw features.

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels, fmin, fmax, batch_size, device
        As in :class:`MelSpectrogram`.
    n_mfcc : int, default=64
        MFCCs whose mean and std are appended; at most ``n_mels``. 0 keeps the
        log-mel statistics only.
    top_db : float or None, default=50.0
        Floor of each clip's log-mel below its maximum, in dB, as in
        ``librosa.power_to_db``; None: no floor.
    standardize : {"prior", "fit"} or None, default="prior"
        See above.
    texture_weight : float in [0, 1), default=0.5
        Share of the embedding's variance given to sound-texture statistics (see
        above); 0 leaves them out, which is how files saved before they existed
        load.

    Attributes
    ----------
    n_features_out_ : int
        ``2 * n_mels + 2 * n_mfcc`` (log-mel means and stds, then MFCC means and
        stds), plus 414 texture statistics at ``n_mels=128`` when ``texture_weight``
        is above 0.
    center_ : ndarray of shape (n_features_out_,)
        Subtracted from each raw feature (zeros when ``standardize=None``).
    scale_ : ndarray of shape (n_features_out_,)
        Divides each centred feature: the feature's standard deviation divided by
        its block weight (ones when ``standardize=None``; a feature constant in
        ``X`` counts as standard deviation 1 with ``"fit"``).

    Examples
    --------
    >>> from skfewaudio import SpectralStatistics, make_sounds
    >>> X, _ = make_sounds(n_classes=2, n_per_class=2, duration=0.5, random_state=0)
    >>> SpectralStatistics().fit(X).transform(X).shape
    (4, 798)
    >>> SpectralStatistics(texture_weight=0).fit(X).transform(X).shape
    (4, 384)
    """

    _parameter_constraints = {
        **_FRONTEND_CONSTRAINTS,
        "n_mfcc": [Interval(Integral, 0, None, closed="left")],
        "top_db": [Interval(Real, 0, None, closed="neither"), None],
        "standardize": [StrOptions({"prior", "fit"}), None],
        "texture_weight": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, *, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128,
                 fmin=0.0, fmax=None, n_mfcc=64, top_db=50.0, standardize="prior",
                 texture_weight=0.5, batch_size=None, device="cpu"):
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.n_mfcc = n_mfcc
        self.top_db = top_db
        self.standardize = standardize
        self.texture_weight = texture_weight
        self.batch_size = batch_size
        self.device = device

    def fit(self, X, y=None):
        """Set the centre and scale: the prior, those of ``X``, or none.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays, \
                or ndarray of shape (n_clips, n_mels, n_frames)
            Waveforms or log-mel spectrograms; with ``standardize="fit"``, unlabelled
            clips of the domain the embedding is for.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_fit_audio(self, X)
        n_mels = X.shape[1] if is_spectrogram_batch(X) else self.n_mels
        if self.n_mfcc > n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} exceeds the {n_mels} mel bands; "
                             f"choose n_mfcc <= {n_mels}.")
        if self.texture_weight > 0 and n_mels < 2:
            raise ValueError("texture statistics need at least 2 mel bands; "
                             "set texture_weight=0.")
        self.n_features_out_ = n_features(n_mels, self.n_mfcc, self._texture)
        self.center_, self.scale_ = self._standardisation(X, n_mels)
        return self

    @property
    def _texture(self):
        return self.texture_weight > 0

    def __setstate__(self, state):
        # Files and pickles written before texture statistics existed embed without them.
        if "center_" in state and "texture_weight" not in state:
            state = {**state, "texture_weight": 0.0}
        super().__setstate__(state)

    def _standardisation(self, X, n_mels):
        """Centre and scale for the chosen ``standardize``."""
        if self.standardize is None:
            return np.zeros(self.n_features_out_), np.ones(self.n_features_out_)
        if self.standardize == "fit":
            raw = self._raw_features(X)
            center, std = raw.mean(axis=0), raw.std(axis=0)
            std = np.where(std > 0, std, 1.0)
        else:
            center, std = self._prior_statistics(n_mels)
        return center, std / block_weights(n_mels, self.n_mfcc, self.texture_weight)

    def _prior_statistics(self, n_mels):
        """The prior's centre and raw std of this transformer's features."""
        prior = load_prior()
        if n_mels != prior["n_mels"]:
            raise ValueError(
                f"the shipped prior is for n_mels={prior['n_mels']}, not {n_mels}; use "
                "standardize='fit' on unlabelled clips of your domain, or standardize=None."
            )
        # The prior holds the statistics of every MFCC; keep the first n_mfcc.
        mfcc_start = 2 * n_mels
        keep = np.r_[:mfcc_start, mfcc_start : mfcc_start + self.n_mfcc,
                     mfcc_start + n_mels : mfcc_start + n_mels + self.n_mfcc]
        center, scale = prior["center"][keep], prior["scale"][keep]
        if self._texture:
            center = np.concatenate([center, prior["texture_center"]])
            scale = np.concatenate([scale, prior["texture_scale"]])
        return center, scale

    def transform(self, X):
        """Embed clips.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays, \
                or ndarray of shape (n_clips, n_mels, n_frames)

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features_out_)
            float32.
        """
        X = validate_audio_after_fit(self, X)
        raw = self._raw_features(X)
        return ((raw - self.center_) / self.scale_).astype(np.float32)

    def _raw_features(self, X):
        """Unstandardised features of validated clips or spectrograms."""
        frame_rate = self.sample_rate / self.hop_length if self._texture else None
        if is_spectrogram_batch(X):
            return spectral_features(X, self.n_mfcc, self.top_db, frame_rate)
        warn_padded_clips(X, self.n_fft, "one STFT frame (n_fft)")
        # float64: float32 STFTs differ by ~1e-6 dB with the batch a clip is in, and
        # a clip's embedding should not depend on the other clips.
        module = build_log_mel(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
        ).double()
        return pool_by_length(
            X, module, lambda spec: spectral_features(spec, self.n_mfcc, self.top_db, frame_rate),
            n_features(self.n_mels, self.n_mfcc, self._texture), batch_size=self.batch_size,
            device=resolve_device(self.device), dtype=np.float64,
        )

    _expected_failed_checks = TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
