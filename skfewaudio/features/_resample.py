"""Resampling clips between sample rates: one rule (soxr, high quality) everywhere."""

import numpy as np

RESAMPLER = "soxr_hq"


def resample(clips, orig_rate, target_rate):
    """Resample each clip from ``orig_rate`` to ``target_rate`` Hz.

    Parameters
    ----------
    clips : sequence of 1-D arrays
    orig_rate, target_rate : int

    Returns
    -------
    clips : list of 1-D float32 ndarrays
        The clips themselves (as a list) when the rates are equal.
    """
    if orig_rate == target_rate:
        return list(clips)
    import librosa

    return [np.ascontiguousarray(
        librosa.resample(np.asarray(clip, dtype=np.float32), orig_sr=orig_rate,
                         target_sr=target_rate, res_type=RESAMPLER), dtype=np.float32)
        for clip in clips]
