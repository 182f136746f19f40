import pickle

import numpy as np
import pytest

from skfewaudio import MelSpectrogram, SpectralStatistics, load, save
from skfewaudio.features._texture import (
    MODULATION_EDGES_HZ,
    MODULATION_GROUPS,
    modulation_power,
    texture_block_sizes,
    texture_features,
)

SR = 16000
FRAME_RATE = SR / 512


def _modulated_envelopes(rate_hz, seconds, rng, n_groups=MODULATION_GROUPS):
    """Band envelopes (dB) of noise whose loudness swings at ``rate_hz``."""
    t = np.arange(int(seconds * FRAME_RATE)) / FRAME_RATE
    swing = 10 * np.sin(2 * np.pi * rate_hz * t)
    return swing + rng.normal(0, 0.5, (1, n_groups, len(t)))


def _band_of(rate_hz):
    return np.searchsorted(MODULATION_EDGES_HZ, rate_hz, side="right") - 1


@pytest.mark.parametrize("rate_hz", [1.0, 2.5, 7.0])
def test_modulation_power_peaks_at_the_modulation_rate(rng, rate_hz):
    power = modulation_power(_modulated_envelopes(rate_hz, 5.0, rng), FRAME_RATE)
    per_band = power.reshape(MODULATION_GROUPS, -1)
    assert (per_band.argmax(axis=1) == _band_of(rate_hz)).all()


def test_modulation_power_of_a_stationary_texture_does_not_depend_on_length(rng):
    envelopes = _modulated_envelopes(3.0, 8.0, rng)
    short = modulation_power(envelopes[:, :, : int(2 * FRAME_RATE)], FRAME_RATE)
    long = modulation_power(envelopes, FRAME_RATE)
    other = modulation_power(_modulated_envelopes(0.5, 8.0, rng), FRAME_RATE)
    assert np.linalg.norm(short - long) < 0.3 * np.linalg.norm(long - other)


def test_silence_and_clips_of_a_few_frames_give_finite_features():
    noise = np.random.default_rng(0).normal(-40, 10, (1, 128, 3))
    # Two frames: a 0.05 s clip at the default hop, once an all-NaN modulation block.
    for log_mel in (np.full((2, 128, 40), -100.0), np.zeros((1, 128, 1)),
                    noise[:, :, :2], noise):
        features = texture_features(log_mel, FRAME_RATE)
        assert features.shape == (len(log_mel), sum(texture_block_sizes(128)))
        assert np.isfinite(features).all()


def test_block_sizes_follow_the_mel_bands():
    assert texture_block_sizes(128) == (104, 120, 190)
    assert texture_block_sizes(8) == (104, 28, 21)  # fewer bands than groups or MFCCs


def test_texture_separates_sounds_that_mean_and_spread_do_not(rng):
    """Gated noise and the same spectrogram with its frames shuffled have the same
    band means and spreads over time; the modulation power tells them apart."""
    t = np.arange(4 * SR) / SR
    gated = (rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2.0 * t) > 0)).astype(np.float32)
    spec = MelSpectrogram().fit_transform([gated])
    shuffled = spec[:, :, rng.permutation(spec.shape[2])]
    both = np.concatenate([spec, shuffled])
    a, b = SpectralStatistics().fit(both).transform(both)
    modulation = slice(2 * 128 + 2 * 64, 2 * 128 + 2 * 64 + texture_block_sizes(128)[0])
    # Bands and MFCCs are shuffled together, so their correlations are kept too.
    kept = np.r_[: modulation.start, modulation.stop : len(a)]
    np.testing.assert_allclose(a[kept], b[kept], rtol=1e-4, atol=1e-4)
    assert np.linalg.norm(a[modulation] - b[modulation]) > 0.5 * np.linalg.norm(a[modulation])


def test_texture_weight_sets_the_share_of_variance(sounds):
    X, _ = sounds
    Z = SpectralStatistics(n_mfcc=20, standardize="fit", texture_weight=0.25).fit(X).transform(X)
    n_spectral = 2 * 128 + 2 * 20
    variance = Z.var(axis=0)
    share = variance[n_spectral:].sum() / variance.sum()
    assert share == pytest.approx(0.25, abs=0.02)  # features constant in X carry none


def test_old_models_load_without_texture(sounds, tmp_path):
    """A transformer saved before texture_weight existed embeds as it did then."""
    X, _ = sounds
    old = SpectralStatistics(texture_weight=0).fit(X[:1])
    expected = old.transform(X[:3])
    del old.texture_weight  # as written before the parameter existed
    assert pickle.loads(pickle.dumps(old)).texture_weight == 0.0
    save(old, tmp_path / "old.safetensors")
    loaded = load(tmp_path / "old.safetensors")
    assert loaded.texture_weight == 0.0
    np.testing.assert_array_equal(loaded.transform(X[:3]), expected)
