import librosa
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from skfewaudio import MelSpectrogram, MelStatistics, PrototypeClassifier, SpecAugment
from skfewaudio.nn import TimeFrequencyMasking


@pytest.mark.parametrize("n_fft, hop, n_mels, sr", [(1024, 512, 128, 16000), (512, 128, 64, 22050)])
def test_mel_matches_librosa_within_1e4_relative(rng, n_fft, hop, n_mels, sr):
    X = (0.1 * rng.standard_normal((3, sr // 2))).astype(np.float32)
    ours = MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                          log=False).fit_transform(X)
    ref = np.stack([librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft, hop_length=hop,
                                                   n_mels=n_mels) for x in X])
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref) / ref) < 1e-4


def test_log_mel_matches_power_to_db(rng):
    X = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
    ours = MelSpectrogram().fit_transform(X)
    ref = librosa.power_to_db(
        np.stack([librosa.feature.melspectrogram(y=x, sr=16000, n_fft=1024, hop_length=512)
                  for x in X]), ref=1.0, amin=1e-10, top_db=None)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mel_length_policy_pads_and_crops(rng):
    long, short = rng.standard_normal(16000).astype(np.float32), np.ones(4000, np.float32)
    mel = MelSpectrogram(duration=0.5).fit([long])
    out = mel.transform([long, short])
    assert mel.n_samples_ == 8000 and out.shape == (2, 128, 8000 // 512 + 1)
    np.testing.assert_allclose(out[0], mel.transform([long[:8000]])[0])
    # Without duration the longest fitted clip sets the length.
    assert MelSpectrogram().fit([short, long]).n_samples_ == 16000


def test_mel_statistics_are_length_exact(rng):
    """Clips of different lengths are embedded without padding."""
    a, b = rng.standard_normal(8000).astype(np.float32), rng.standard_normal(5000).astype(np.float32)
    stats = MelStatistics().fit([a])
    together = stats.transform([a, b])
    np.testing.assert_allclose(together[1], stats.transform([b])[0], rtol=1e-5)
    assert together.shape == (2, 256)


def test_mel_statistics_accept_spectrograms(sounds):
    X, _ = sounds
    spec = MelSpectrogram().fit_transform(X[:4])
    np.testing.assert_allclose(MelStatistics().fit(spec).transform(spec),
                               MelStatistics().fit(X[:4]).transform(X[:4]), rtol=1e-4, atol=1e-3)


def test_specaugment_masks_in_fit_transform_only(sounds):
    X, _ = sounds
    spec = MelSpectrogram().fit_transform(X[:8])
    aug = SpecAugment(random_state=0)
    masked = aug.fit_transform(spec)
    assert masked.shape == spec.shape and not np.allclose(masked, spec)
    np.testing.assert_array_equal(aug.transform(spec), spec)
    np.testing.assert_array_equal(SpecAugment(random_state=0).fit_transform(spec), masked)


def test_specaugment_module_is_identity_in_eval_mode():
    spec = torch.randn(4, 32, 50)
    module = TimeFrequencyMasking(freq_mask_param=8, time_mask_param=10)
    assert torch.equal(module.eval()(spec), spec)
    out = module.train()(spec)
    changed_rows = (out != spec).all(dim=2).sum(dim=1)  # whole mel rows replaced
    assert (changed_rows <= 2 * 8).all() and out.shape == spec.shape


def test_pipeline_with_specaugment_predicts_deterministically(sounds):
    X, y = sounds
    pipe = make_pipeline(MelSpectrogram(), SpecAugment(random_state=0),
                         PrototypeClassifier()).fit(X[::2], y[::2])
    first, second = pipe.predict(X[1::2]), pipe.predict(X[1::2])
    np.testing.assert_array_equal(first, second)
    # Prediction sees unmasked spectrograms: same as the pipeline without SpecAugment
    # applied to queries, given the same (masked) prototypes.
    spec = pipe[0].transform(X[1::2])
    np.testing.assert_array_equal(pipe[-1].predict(spec), first)
    assert np.mean(first == y[1::2]) > 2 / len(np.unique(y))  # well above chance
