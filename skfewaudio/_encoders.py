"""The one rule for a user's encoder: a fitted one is used as it is, an unfitted one
is fitted (as a clone) on the data at hand."""

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._prototypes import as_2d_embedding
from ._validation import check_fit_labels, validate_audio_after_fit, validate_fit_audio
from .features import SpectralStatistics


def fitted_or_none(estimator):
    """``estimator`` if it is fitted (a ``FrozenEstimator`` of a fitted one counts),
    else None."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return None
    return estimator


# A learning-free encoder's fit (MelStatistics, SpectralStatistics with its shipped
# prior) only checks its parameters; a clip that is not silent keeps the silent-clip
# warning, meant for users' data, out of it.
_PARAMETER_CHECK_CLIP = np.ones((1, 1), dtype=np.float32)


def fit_without_data(encoder):
    """Fit a learning-free encoder (one whose fit learns nothing from its clips)."""
    return encoder.fit(_PARAMETER_CHECK_CLIP)


def fitted_or_fit_clone(estimator, X, y=None):
    """``estimator`` if fitted, else a clone of it fitted on ``X`` (and ``y``)."""
    fitted = fitted_or_none(estimator)
    return clone(estimator).fit(X, y) if fitted is None else fitted


class SupportEncoderMixin:
    """The encoder rule of the few-shot classifiers that embed their support set
    (``encoder`` and ``sample_rate`` parameters): the learning-free
    :class:`SpectralStatistics` for None, a fitted encoder as it is, else a clone
    fitted on the support set; ``transform`` embeds with it."""

    def _fit_support_encoder(self, X, y):
        """Validate the parameters and the support set, set ``encoder_``; the
        validated ``(X, y)``."""
        self._validate_params()
        X = validate_fit_audio(self, X)
        y = check_fit_labels(X, y, estimator=self)
        encoder = self._ready_encoder()
        # Explicit None test: a Pipeline encoder defines __len__, so `or` would misfire.
        self.encoder_ = clone(self.encoder).fit(X, y) if encoder is None else encoder
        return X, y

    def _ready_encoder(self):
        """The encoder if it needs no fitting on the support set, else None."""
        if self.encoder is None:
            return fit_without_data(SpectralStatistics(sample_rate=self.sample_rate))
        return fitted_or_none(self.encoder)

    def _episode_embedder(self):
        """The fitted encoder all episodes can share, or None if it must be fitted."""
        fitted = getattr(self, "encoder_", None)
        return self._ready_encoder() if fitted is None else fitted

    def transform(self, X):
        """Embed clips with the encoder.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features)
        """
        X = validate_audio_after_fit(self, X)
        return as_2d_embedding(self.encoder_.transform(X))
