"""The optimised front-end paths against the plain computations they replace."""

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from skfewaudio._torch_utils import pad_or_crop
from skfewaudio._windows import LogMelWindows, _cut, _z_normalize
from skfewaudio.features._mel import _linear_filters, build_log_mel
from skfewaudio.nn.frontend import pcen_smoothing


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


@pytest.mark.parametrize("hop, time_constant", [(512, 0.4), (160, 0.4), (512, 0.06)])
def test_pcen_matches_librosa_with_the_filter_started_at_the_first_frame(rng, hop,
                                                                        time_constant):
    # A level that rises 20-fold within the clip: PCEN's gain control is what differs.
    x = rng.standard_normal(16000) * np.linspace(0.1, 2.0, 16000)
    x = x.astype(np.float32)
    module = build_log_mel(sample_rate=16000, n_fft=1024, hop_length=hop, n_mels=40,
                           compression="pcen", pcen_time_constant=time_constant)
    ours = module(torch.from_numpy(x[None]))[0].numpy()
    mel = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=1024, hop_length=hop,
                                         n_mels=40, power=1.0, pad_mode="constant")
    b = pcen_smoothing(16000, hop, time_constant)
    mel *= 2.0**31
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[None, :] * mel[:, :1]
    reference = librosa.pcen(mel, sr=16000, hop_length=hop, time_constant=time_constant, zi=zi)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_pcen_suppresses_a_steady_loud_band_and_keeps_a_short_burst(rng):
    t = np.arange(16000) / 16000
    x = 0.01 * rng.standard_normal(16000) + np.sin(2 * np.pi * 1000 * t)  # hum, 1 kHz
    x[8000:8400] += 0.5 * rng.standard_normal(400)  # a 25 ms broadband burst
    x = torch.from_numpy(x.astype(np.float32)[None])
    centres = librosa.mel_frequencies(42, fmax=8000)[1:-1]
    hum, quiet = np.argmin(abs(centres - 1000)), np.argmin(abs(centres - 5000))
    kwargs = dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=40)
    decibels = build_log_mel(**kwargs)(x)[0].numpy()
    pcen = build_log_mel(compression="pcen", **kwargs)(x)[0].numpy()
    # In decibels the hum outweighs the burst; PCEN brings every steady band to about
    # one level and the burst stands out from it.
    assert decibels[hum].mean() > decibels[quiet].max() + 10
    assert abs(pcen[hum, 2:-2].mean() - pcen[quiet, 2:-2].mean()) < 0.2
    assert pcen[quiet].max() > 4 * pcen[hum, 2:-2].mean()


def test_pcen_windows_are_standardised_like_log_mel_windows(rng):
    frontend = LogMelWindows(window_seconds=0.25, compression="pcen")
    X = rng.standard_normal((4, frontend.window_samples)).astype(np.float32)
    windows = frontend.fit(X).spectrograms
    raw = frontend.transform(X, normalize=False).spectrograms
    np.testing.assert_allclose(windows, (raw - frontend.mean_) / frontend.std_,
                               rtol=1e-4, atol=1e-4)
    assert (raw >= 0).all()  # PCEN of non-negative energies, not decibels


def test_linear_bands_peak_at_the_nearest_centre_and_have_unit_area():
    kwargs = dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128)
    module = build_log_mel(frequency_scale="linear", **kwargs)
    centres = np.linspace(0, 8000, 130)[1:-1]
    t = np.arange(16000) / 16000
    for hz in (300, 1234, 6000, 7777):
        tone = torch.from_numpy(np.sin(2 * np.pi * hz * t).astype(np.float32)[None])
        assert module(tone)[0].mean(1).argmax() == np.argmin(abs(centres - hz))
    bin_hz = 16000 / 1024
    np.testing.assert_allclose(_linear_filters(16000, 1024, 128).sum(1) * bin_hz, 1, rtol=5e-3)


def test_linear_bands_resolve_high_tones_and_mel_bands_low_ones():
    kwargs = dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128)
    t = np.arange(16000) / 16000

    def bands_apart(scale, low_hz, high_hz):
        module = build_log_mel(frequency_scale=scale, **kwargs)
        peaks = [module(torch.from_numpy(np.sin(2 * np.pi * hz * t).astype(np.float32)[None]))
                 [0].mean(1).argmax() for hz in (low_hz, high_hz)]
        return int(peaks[1] - peaks[0])

    # 150 Hz apart at 6 kHz: about 2.4 linear bands, one mel band.
    assert bands_apart("linear", 6000, 6150) == 2 and bands_apart("mel", 6000, 6150) == 1
    # 100 Hz apart at 300 Hz: four mel bands, about 1.6 linear ones.
    assert bands_apart("mel", 300, 400) == 4 and bands_apart("linear", 300, 400) == 1


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
