"""The optimised front-end paths against the plain computations they replace."""

import numpy as np
import pytest
import torch

from skfewaudio._torch_utils import pad_or_crop
from skfewaudio._windows import LogMelWindows, _cut, _z_normalize
from skfewaudio.features._mel import build_log_mel


def _stft_mel(waveforms, module):
    """The reference: torch.stft (centred, zero padding) then |.|^power and mel filters."""
    spec = torch.stft(waveforms, n_fft=module.n_fft, hop_length=module.hop_length,
                      window=module.window, center=True, pad_mode="constant",
                      return_complex=True).abs().pow(module.power)
    return torch.matmul(module.mel_filters, spec)


@pytest.mark.parametrize("n_fft, hop, n_samples, power", [
    (1024, 512, 8000, 2.0),
    (511, 100, 3001, 2.0),  # odd n_fft, hop not dividing the length
    (512, 128, 300, 1.0),   # clip shorter than one frame; magnitude, not power
])
def test_framed_rfft_matches_torch_stft(rng, n_fft, hop, n_samples, power):
    module = build_log_mel(sample_rate=16000, n_fft=n_fft, hop_length=hop, n_mels=40,
                           log=False)
    module.power = power
    x = torch.from_numpy(rng.standard_normal((3, n_samples)).astype(np.float32))
    ours, ref = module(x), _stft_mel(x, module)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_standardize_waveforms_matches_numpy_z_normalisation(rng):
    x = (3.0 + 0.2 * rng.standard_normal((4, 4000))).astype(np.float32)
    kwargs = dict(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32)
    inside = build_log_mel(standardize_waveforms=True, **kwargs)(torch.from_numpy(x))
    before = build_log_mel(**kwargs)(torch.from_numpy(_z_normalize(x)))
    torch.testing.assert_close(inside, before, rtol=1e-4, atol=1e-3)


def test_z_normalize_is_per_clip_zero_mean_unit_variance(rng):
    x = (5.0 + 2.0 * rng.standard_normal((3, 1000))).astype(np.float32)
    out = _z_normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True),
                               atol=1e-5)


def test_one_window_path_equals_cut_path(rng):
    """5 s clips skip the cutting and are normalised by the module: same windows."""
    frontend = LogMelWindows(window_seconds=0.25)
    X = rng.standard_normal((3, frontend.window_samples)).astype(np.float32)
    fast = frontend.transform(X, normalize=False)
    plain = frontend.transform(list(X), normalize=False)  # a list takes the cut path
    np.testing.assert_array_equal(fast.owner, plain.owner)
    np.testing.assert_allclose(fast.spectrograms, plain.spectrograms, atol=1e-3)


def test_reshaped_windows_equal_clip_by_clip_cutting(rng):
    frontend = LogMelWindows(window_seconds=0.25)
    X = rng.standard_normal((2, 2 * frontend.window_samples + 100)).astype(np.float32)
    fast = frontend.transform(X, normalize=False)
    plain = frontend.transform(list(X), normalize=False)
    np.testing.assert_array_equal(fast.owner, [0, 0, 1, 1])
    np.testing.assert_array_equal(fast.owner, plain.owner)
    np.testing.assert_allclose(fast.spectrograms, plain.spectrograms, atol=1e-3)


def test_cut_keeps_full_windows_and_pads_a_short_clip():
    pieces, owner = _cut([np.arange(10.0), np.arange(3.0)], 4, axis=0)
    np.testing.assert_array_equal(owner, [0, 0, 1])
    np.testing.assert_array_equal(pieces[1], [4, 5, 6, 7])
    np.testing.assert_array_equal(pieces[2], [0, 1, 2, 0])


def test_pad_or_crop_reuses_a_fitting_array_and_copies_otherwise(rng):
    fitting = rng.standard_normal((2, 50)).astype(np.float32)
    assert pad_or_crop(fitting, 50) is fitting
    out = pad_or_crop([fitting[0], fitting[1, :20]], 30)
    assert out.dtype == np.float32 and out.shape == (2, 30)
    np.testing.assert_array_equal(out[0], fitting[0, :30])
    np.testing.assert_array_equal(out[1, 20:], 0)


def test_blocked_mel_product_equals_the_dense_one(rng):
    # 100 mels on 257 bins leave some filters empty, and the last block partial.
    module = build_log_mel(sample_rate=16000, n_fft=512, hop_length=256, n_mels=100, log=False)
    x = torch.from_numpy(rng.standard_normal((2, 5000)).astype(np.float32))
    torch.testing.assert_close(module(x), _stft_mel(x, module), rtol=1e-4, atol=1e-5)
    assert module.filter_blocks[-1][1] == 100


def test_standardisation_inside_the_module_equals_standardising_after(rng):
    frontend = LogMelWindows(window_seconds=0.25)
    X = rng.standard_normal((4, frontend.window_samples)).astype(np.float32)
    frontend.fit(X)
    raw = frontend.transform(X, normalize=False).spectrograms
    standardised = frontend.transform(X).spectrograms
    np.testing.assert_allclose(standardised, (raw - frontend.mean_) / frontend.std_,
                               rtol=1e-4, atol=1e-4)
    assert abs(frontend.mean_) > 1  # a real offset was removed
