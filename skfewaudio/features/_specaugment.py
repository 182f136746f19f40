"""SpecAugment as a pipeline step that alters data only while fitting."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from .._torch_utils import make_generator
from .._validation import check_audio, is_spectrogram_batch
from ..nn.augment import TimeFrequencyMasking


class SpecAugment(TransformerMixin, BaseEstimator):
    """Frequency and time masking of spectrograms during ``fit`` only.

    In a pipeline such as ``make_pipeline(MelSpectrogram(), SpecAugment(), clf)``,
    ``Pipeline.fit`` calls ``fit_transform``, which masks the training spectrograms;
    ``predict`` calls ``transform``, which returns its input unchanged. Predictions
    are therefore deterministic and never masked.

    For augmentation inside a network's training loop use the torch module
    :class:`skfewaudio.nn.TimeFrequencyMasking`.

    Parameters
    ----------
    freq_mask_param : int, default=16
        Widest frequency mask, in mel bands.
    time_mask_param : int, default=20
        Widest time mask, in frames.
    n_freq_masks, n_time_masks : int, default=2
    mask_value : "mean" or float, default="mean"
        Fill value; "mean" uses each spectrogram's own mean (neutral for log-mel).
    random_state : int, RandomState instance or None, default=None
        Seeds the masks drawn by ``fit_transform``.

    Notes
    -----
    Input is 3-D, ``(n_clips, n_mels, n_frames)``; ``fit_transform(X)`` and
    ``fit(X).transform(X)`` differ on purpose.
    """

    _parameter_constraints = {
        "freq_mask_param": [Interval(Integral, 0, None, closed="left")],
        "time_mask_param": [Interval(Integral, 0, None, closed="left")],
        "n_freq_masks": [Interval(Integral, 0, None, closed="left")],
        "n_time_masks": [Interval(Integral, 0, None, closed="left")],
        "mask_value": [StrOptions({"mean"}), Real],
        "random_state": ["random_state"],
    }

    def __init__(self, *, freq_mask_param=16, time_mask_param=20, n_freq_masks=2,
                 n_time_masks=2, mask_value="mean", random_state=None):
        self.freq_mask_param = freq_mask_param
        self.time_mask_param = time_mask_param
        self.n_freq_masks = n_freq_masks
        self.n_time_masks = n_time_masks
        self.mask_value = mask_value
        self.random_state = random_state

    def fit(self, X, y=None):
        """Check parameters and input; nothing is learned."""
        self._validate_params()
        _check_spectrograms(X)
        self.fitted_ = True
        return self

    def fit_transform(self, X, y=None):
        """Return masked copies of the training spectrograms."""
        self.fit(X)
        X = _check_spectrograms(X)
        module = TimeFrequencyMasking(
            freq_mask_param=self.freq_mask_param, time_mask_param=self.time_mask_param,
            n_freq_masks=self.n_freq_masks, n_time_masks=self.n_time_masks,
            mask_value=self.mask_value, generator=make_generator(self.random_state),
        ).train()
        with torch.no_grad():
            return module(torch.from_numpy(X.copy())).numpy()

    def transform(self, X):
        """Return ``X`` unchanged (masking happens only in ``fit_transform``)."""
        return _check_spectrograms(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        return tags


def _check_spectrograms(X):
    X = check_audio(X)
    if not is_spectrogram_batch(X):
        raise ValueError(
            "SpecAugment needs spectrograms of shape (n_clips, n_mels, n_frames), "
            "e.g. the output of MelSpectrogram; it got waveforms."
        )
    return np.asarray(X, dtype=np.float32)
