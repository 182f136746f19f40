"""A seeded synthetic long recording with known target events, for tests and demos."""

import numpy as np
from sklearn.utils import check_random_state

from ._events import EVENT_DTYPE

__all__ = ["make_event_recording"]


def make_event_recording(duration=60.0, *, n_events=20, event_seconds=(0.2, 0.4),
                         n_distractors=10, sample_rate=16000, snr_db=10.0,
                         min_gap=0.5, random_state=None):
    """A recording of pink background noise with target calls and distractor sounds.

    Target events are harmonic calls (a 700 Hz fundamental with three overtones and
    a slight upward sweep, pitch varying by +-5 % per call) with a smooth envelope;
    distractors are bursts of band-limited noise (2-4 kHz) of similar lengths. No
    two sounds overlap and each is at least ``min_gap`` seconds from the next.

    Parameters
    ----------
    duration : float, default=60.0
        Length in seconds.
    n_events : int, default=20
        Number of target events.
    event_seconds : (float, float), default=(0.2, 0.4)
        Range of event (and distractor) durations.
    n_distractors : int, default=10
    sample_rate : int, default=16000
    snr_db : float, default=10.0
        Ratio of event power to background power over the event, in dB.
    min_gap : float, default=0.5
        Smallest silence between two sounds, in seconds.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (round(duration * sample_rate),)
        float32 waveform, peak 0.9.
    events : ndarray of dtype EVENT_DTYPE
        The target events (onset, offset, score 1), sorted by onset.

    Raises
    ------
    ValueError
        If the sounds cannot fit in ``duration`` with the gaps asked.
    """
    rng = check_random_state(random_state)
    n = int(round(duration * sample_rate))
    lengths = rng.uniform(*event_seconds, size=n_events + n_distractors)
    is_target = np.r_[np.ones(n_events, bool), np.zeros(n_distractors, bool)]
    order = rng.permutation(len(lengths))
    lengths, is_target = lengths[order], is_target[order]
    slack = duration - lengths.sum() - min_gap * (len(lengths) + 1)
    if slack < 0:
        raise ValueError(
            f"{len(lengths)} sounds of {event_seconds} s with gaps of {min_gap} s do not "
            f"fit in {duration} s."
        )
    # Random gaps that sum to the slack place sounds without overlap.
    gaps = min_gap + rng.dirichlet(np.ones(len(lengths) + 1)) * slack
    onsets = np.cumsum(np.r_[gaps[0], (lengths + gaps[1:])[:-1]])
    background = _pink_noise(n, rng)
    x = background.copy()
    events = []
    for on, length, target in zip(onsets, lengths, is_target):
        a = int(round(on * sample_rate))
        m = int(round(length * sample_rate))
        t = np.arange(m) / sample_rate
        if target:
            f0 = 700.0 * rng.uniform(0.95, 1.05) * (1 + 0.15 * t / length)
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            sound = sum(np.sin(k * phase) / k for k in range(1, 5))
        else:
            sound = _band_noise(m, 2000, 4000, sample_rate, rng)
        envelope = np.sin(np.pi * np.clip(t / length, 0, 1)) ** 0.5
        sound = sound * envelope
        power_bg = np.mean(background[a:a + m] ** 2) + 1e-12
        sound *= np.sqrt(power_bg * 10 ** (snr_db / 10) / (np.mean(sound ** 2) + 1e-12))
        x[a:a + m] += sound
        if target:
            events.append((a / sample_rate, (a + m) / sample_rate, 1.0))
    x *= 0.9 / np.abs(x).max()
    return x.astype(np.float32), np.array(events, dtype=EVENT_DTYPE)


def _pink_noise(n, rng):
    spectrum = np.fft.rfft(rng.randn(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return noise / noise.std()


def _band_noise(n, low, high, sample_rate, rng):
    spectrum = np.fft.rfft(rng.randn(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, n)
