"""Seeded synthetic sound classes with real acoustic structure, for demos and tests."""

import numpy as np
from sklearn.utils import check_random_state

KINDS = ("harmonic", "chirp", "am_tone", "fm_tone", "band_noise", "click_train")


def make_sounds(n_classes=10, n_per_class=20, *, duration=1.0, sample_rate=16000,
                snr_db=(10.0, 30.0), variation=1.0, random_state=None):
    """Generate labelled synthetic sound classes.

    Each class is one acoustic recipe with its own parameters, drawn from six kinds
    of sound: harmonic stacks (a fundamental and decaying overtones, with vibrato),
    chirps (rising or falling sweeps), amplitude- and frequency-modulated tones,
    band-limited noise and click trains. Each clip of a class varies its pitch or
    rate, onset, length, loudness and envelope, and sits in pink background noise
    at a random signal-to-noise ratio. Classes of the same kind differ only in their
    parameters, so telling them apart needs more than the kind.

    Parameters
    ----------
    n_classes : int, default=10
    n_per_class : int, default=20
    duration : float, default=1.0
        Clip length in seconds.
    sample_rate : int, default=16000
    snr_db : tuple of float, default=(10.0, 30.0)
        Range of signal-to-background ratios in dB.
    variation : float, default=1.0
        Scales the within-class variation (0 gives identical sounds up to noise).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_classes * n_per_class, round(duration * sample_rate))
        float32 waveforms, peak-normalised to 0.9.
    y : ndarray of shape (n_classes * n_per_class,)
        Class names such as ``"chirp_03"`` (kind, then class index).
    """
    rng = check_random_state(random_state)
    n_samples = int(round(duration * sample_rate))
    t = np.arange(n_samples) / sample_rate
    X = np.empty((n_classes * n_per_class, n_samples), dtype=np.float32)
    y = []
    for c in range(n_classes):
        kind = KINDS[c % len(KINDS)]
        recipe = _draw_recipe(kind, rng, sample_rate)
        for i in range(n_per_class):
            clip = _render(kind, recipe, t, sample_rate, rng, variation)
            clip = clip * _envelope(t, duration, recipe, rng, variation)
            X[c * n_per_class + i] = _mix_background(clip, rng, snr_db)
            y.append(f"{kind}_{c:02d}")
    return X, np.asarray(y)


def _draw_recipe(kind, rng, sample_rate):
    nyquist = sample_rate / 2
    top = min(4000.0, 0.8 * nyquist)
    recipe = {
        "attack": rng.uniform(0.005, 0.1),
        "decay": rng.uniform(0.05, 0.5),
        "length": rng.uniform(0.4, 0.9),  # fraction of the clip the sound lasts
    }
    if kind == "harmonic":
        recipe.update(f0=_log_uniform(rng, 100, top / 4), n_harmonics=rng.randint(3, 10),
                      rolloff=rng.uniform(0.3, 0.9), vibrato=rng.uniform(0, 8))
    elif kind == "chirp":
        f1, f2 = _log_uniform(rng, 150, top, size=2)
        recipe.update(f_start=f1, f_end=f2, repeats=rng.randint(1, 4))
    elif kind == "am_tone":
        recipe.update(carrier=_log_uniform(rng, 200, top), rate=rng.uniform(3, 40),
                      depth=rng.uniform(0.5, 1.0))
    elif kind == "fm_tone":
        recipe.update(carrier=_log_uniform(rng, 300, top * 0.7), rate=rng.uniform(2, 15),
                      deviation=rng.uniform(0.05, 0.3))
    elif kind == "band_noise":
        low = _log_uniform(rng, 100, top / 2)
        recipe.update(low=low, high=min(nyquist * 0.95, low * rng.uniform(1.3, 4)))
    else:  # click_train
        recipe.update(rate=_log_uniform(rng, 3, 60), brightness=_log_uniform(rng, 500, top))
    return recipe


def _log_uniform(rng, low, high, size=None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size=size))


def _jitter(rng, variation, spread):
    """A multiplicative factor near 1 with relative spread ``spread * variation``."""
    return 1.0 + variation * rng.uniform(-spread, spread)


def _render(kind, r, t, sample_rate, rng, variation):
    if kind == "harmonic":
        f0 = r["f0"] * _jitter(rng, variation, 0.04)
        vibrato = 1 + 0.01 * np.sin(2 * np.pi * r["vibrato"] * t)
        phase = 2 * np.pi * np.cumsum(f0 * vibrato) / sample_rate
        ks = np.arange(1, r["n_harmonics"] + 1)
        ks = ks[ks * f0 < sample_rate / 2]
        return np.sum((r["rolloff"] ** (ks - 1))[:, None] * np.sin(np.outer(ks, phase)), axis=0)
    if kind == "chirp":
        span = t[-1] / r["repeats"]
        local = (t % span) / span
        scale = _jitter(rng, variation, 0.05)
        freq = scale * r["f_start"] * (r["f_end"] / r["f_start"]) ** local
        return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)
    if kind == "am_tone":
        carrier = r["carrier"] * _jitter(rng, variation, 0.03)
        rate = r["rate"] * _jitter(rng, variation, 0.1)
        modulator = 1 - r["depth"] * 0.5 * (1 + np.cos(2 * np.pi * rate * t))
        return modulator * np.sin(2 * np.pi * carrier * t + rng.uniform(0, 2 * np.pi))
    if kind == "fm_tone":
        carrier = r["carrier"] * _jitter(rng, variation, 0.03)
        rate = r["rate"] * _jitter(rng, variation, 0.1)
        freq = carrier * (1 + r["deviation"] * np.sin(2 * np.pi * rate * t))
        return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)
    if kind == "band_noise":
        scale = _jitter(rng, variation, 0.05)
        return _band_limited_noise(len(t), sample_rate, r["low"] * scale, r["high"] * scale, rng)
    rate = r["rate"] * _jitter(rng, variation, 0.1)  # click_train
    clicks = np.zeros(len(t))
    positions = np.arange(rng.uniform(0, 1 / rate), t[-1], 1 / rate)
    clicks[(positions * sample_rate).astype(int)] = 1.0
    burst_len = max(2, int(sample_rate * 2 / r["brightness"]))
    burst = np.sin(2 * np.pi * r["brightness"] * np.arange(burst_len) / sample_rate)
    burst *= np.exp(-np.arange(burst_len) / (burst_len / 4))
    return np.convolve(clicks, burst)[: len(t)]


def _band_limited_noise(n_samples, sample_rate, low, high, rng):
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, n_samples)


def _envelope(t, duration, r, rng, variation):
    length = duration * min(1.0, r["length"] * _jitter(rng, variation, 0.15))
    onset = rng.uniform(0, max(duration - length, 0) * min(variation, 1.0) + 1e-9)
    local = t - onset
    attack = np.clip(local / r["attack"], 0, 1)
    release = np.clip((length - local) / r["decay"], 0, 1)
    return attack * release * (local >= 0)


def _mix_background(clip, rng, snr_db):
    n = len(clip)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))  # pink: 1/f power
    background = np.fft.irfft(spectrum, n)
    signal_power = np.mean(clip**2) + 1e-12
    snr = 10 ** (rng.uniform(*snr_db) / 10)
    background *= np.sqrt(signal_power / (snr * (np.mean(background**2) + 1e-12)))
    mixed = clip + background
    return (0.9 * mixed / (np.abs(mixed).max() + 1e-12)).astype(np.float32)
