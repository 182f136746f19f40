"""Sound-texture statistics of log-mel spectrograms: how band envelopes fluctuate and
co-vary over time.

After McDermott and Simoncelli (2011, "Sound texture perception via statistics of the
auditory periphery"), which showed that rain, fire, insects and engines are recognised
from a few time-averaged statistics of the cochlear envelopes: their modulation power
and their correlations across bands. Mean and standard deviation over time (what
:func:`~skfewaudio.features._spectral.spectral_features` keeps) miss both: a tick
every second and a tick twice a second have the same band means and spreads.
Three blocks, each independent of the clip's length:

* **modulation power**: the amplitude spectrum over time of the envelopes of
  ``MODULATION_GROUPS`` groups of adjacent mel bands, averaged in the modulation bands
  between the edges ``MODULATION_EDGES_HZ``, in log;
* **band correlations**: the correlation over time of ``CORRELATION_GROUPS`` band-group
  envelopes, each pair once;
* **cepstral correlations**: the correlation over time of MFCCs 1 to
  ``CORRELATION_MFCCS`` (MFCC 0, the loudness, is left out), each pair once.
"""

from itertools import pairwise

import numpy as np
import scipy.fft
import torch

from ..nn.statistics import correlations

MODULATION_GROUPS = 8
MODULATION_EDGES_HZ = (0.2, 0.4, 0.6, 0.8, 1.2, 1.6, 2.2, 3.0, 4.0, 5.4, 7.2, 9.6, 12.8, 16.0)
CORRELATION_GROUPS = 16
CORRELATION_MFCCS = 20
_MODULATION_FLOOR = 1e-3  # of the envelope's amplitude spectrum (dB): silence stays finite


def texture_block_sizes(n_mels):
    """Feature counts of the three blocks: modulation, band and cepstral correlations."""
    n_mfccs = min(CORRELATION_MFCCS, n_mels - 1)
    return (MODULATION_GROUPS * (len(MODULATION_EDGES_HZ) - 1),
            _pairs(min(CORRELATION_GROUPS, n_mels)), _pairs(n_mfccs))


def texture_features(log_mel, frame_rate):
    """Texture statistics of log-mel spectrograms of equal length.

    Parameters
    ----------
    log_mel : ndarray of shape (n_clips, n_mels, n_frames)
        In decibels, already floored as the caller wants it.
    frame_rate : float
        Frames per second (``sample_rate / hop_length``): places the modulation bands.

    Returns
    -------
    features : ndarray of shape (n_clips, sum(texture_block_sizes(n_mels)))
    """
    n_mels = log_mel.shape[1]
    cepstra = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)
    return np.concatenate([
        modulation_power(band_groups(log_mel, MODULATION_GROUPS), frame_rate),
        _correlations(band_groups(log_mel, min(CORRELATION_GROUPS, n_mels))),
        _correlations(cepstra[:, 1 : 1 + min(CORRELATION_MFCCS, n_mels - 1)]),
    ], axis=1)


def band_groups(log_mel, n_groups):
    """Mean envelope of ``n_groups`` runs of adjacent bands, shape (n, n_groups, n_frames)."""
    return np.stack([part.mean(axis=1) for part in np.array_split(log_mel, n_groups, axis=1)],
                    axis=1)


def modulation_power(envelopes, frame_rate):
    """Log mean amplitude spectrum of each envelope in each modulation band.

    The spectrum is normalised by the window's energy, so a stationary texture gives
    the same value at any clip length. A band narrower than the clip's frequency
    resolution (a short clip) takes the spectrum interpolated at its centre.
    """
    n_frames = envelopes.shape[2]
    # np.hanning(2) is all zeros: two frames (a clip of under two hops) go unwindowed.
    window = np.hanning(n_frames) if n_frames > 2 else np.ones(n_frames)
    centred = envelopes - envelopes.mean(axis=2, keepdims=True)
    spectrum = np.abs(np.fft.rfft(centred * window, axis=2)) / np.sqrt((window**2).sum())
    freqs = np.fft.rfftfreq(n_frames, d=1.0 / frame_rate)
    bands = []
    for low, high in pairwise(MODULATION_EDGES_HZ):
        inside = (freqs >= low) & (freqs < high)
        if inside.any():
            bands.append(spectrum[:, :, inside].mean(axis=2))
        else:
            bands.append(_interpolate(spectrum, freqs, np.sqrt(low * high)))
    return np.log(np.stack(bands, axis=2) + _MODULATION_FLOOR).reshape(len(envelopes), -1)


def _correlations(signals):
    """:func:`skfewaudio.nn.statistics.correlations` of a numpy array."""
    return correlations(torch.from_numpy(signals)).numpy()


def _interpolate(spectrum, freqs, at):
    """``spectrum`` (..., n_freqs) linearly interpolated at frequency ``at``."""
    if len(freqs) == 1:
        return spectrum[..., 0]
    right = int(np.clip(np.searchsorted(freqs, at), 1, len(freqs) - 1))
    share = np.clip((at - freqs[right - 1]) / (freqs[right] - freqs[right - 1]), 0.0, 1.0)
    return (1 - share) * spectrum[..., right - 1] + share * spectrum[..., right]


def _pairs(k):
    return k * (k - 1) // 2
