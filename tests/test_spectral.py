import librosa
import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skfewaudio import MelSpectrogram, PrototypeClassifier, SpectralStatistics
from skfewaudio._encoders import fit_without_data
from skfewaudio.features._spectral import block_weights, load_prior
from skfewaudio.features._texture import texture_block_sizes

SR = 16000
N_TEXTURE = sum(texture_block_sizes(128))


def _librosa_statistics(clip, *, n_mfcc, top_db):
    """Log-mel and MFCC mean/std computed with librosa alone."""
    power = librosa.feature.melspectrogram(y=clip, sr=SR, n_fft=1024, hop_length=512,
                                           n_mels=128)
    log_mel = librosa.power_to_db(power, amin=1e-10, top_db=top_db)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)
    return np.concatenate([log_mel.mean(1), log_mel.std(1), mfcc.mean(1), mfcc.std(1)])


@pytest.mark.parametrize("top_db", [50.0, None])
def test_raw_features_match_librosa(sounds, top_db):
    X, _ = sounds
    stats = SpectralStatistics(n_mfcc=20, top_db=top_db, standardize=None).fit(X[:1])
    expected = np.stack([_librosa_statistics(x, n_mfcc=20, top_db=top_db) for x in X[:3]])
    embedded = stats.transform(X[:3])
    assert embedded.shape == (3, expected.shape[1] + N_TEXTURE)  # the texture comes last
    np.testing.assert_allclose(embedded[:, : expected.shape[1]], expected, rtol=1e-3, atol=1e-2)


def test_clips_of_different_lengths_are_embedded_without_padding(rng):
    a = rng.standard_normal(8000).astype(np.float32)
    b = rng.standard_normal(5000).astype(np.float32)
    stats = SpectralStatistics().fit([a])
    together = stats.transform([a, b])
    np.testing.assert_allclose(together[1], stats.transform([b])[0], rtol=1e-6, atol=1e-6)
    assert together.shape == (2, 2 * 128 + 2 * 64 + N_TEXTURE)


def test_pooled_statistics_do_not_depend_on_length(rng):
    """Stationary noise embeds alike at 1 s and 3 s: statistics pool over time."""
    noise = rng.standard_normal(3 * SR).astype(np.float32)
    stats = SpectralStatistics().fit([noise])
    short, long = stats.transform([noise[:SR], noise])
    other = stats.transform([np.sin(np.arange(SR) * 0.3).astype(np.float32)])[0]
    assert np.linalg.norm(short - long) < 0.2 * np.linalg.norm(short - other)


def test_fit_standardises_on_the_given_clips(sounds):
    X, _ = sounds
    stats = SpectralStatistics(n_mfcc=20, standardize="fit", texture_weight=0).fit(X)
    Z = stats.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-4)
    # The log-mel block is down-weighted to the MFCC block's total variance.
    np.testing.assert_allclose(Z.std(axis=0), block_weights(128, 20), rtol=1e-3)
    np.testing.assert_allclose(block_weights(128, 20)[:256] ** 2 * 256, 40)


def test_prior_is_used_when_fitted_without_data(sounds):
    X, _ = sounds
    prior = load_prior()
    stats = fit_without_data(SpectralStatistics(n_mfcc=20))
    mfcc = 2 * 128
    keep = np.r_[:mfcc, mfcc : mfcc + 20, mfcc + 128 : mfcc + 148]  # first 20 of 128 MFCCs
    np.testing.assert_array_equal(
        stats.center_, np.concatenate([prior["center"][keep], prior["texture_center"]]))
    np.testing.assert_allclose(
        stats.scale_, np.concatenate([prior["scale"][keep], prior["texture_scale"]])
        / block_weights(128, 20, texture_weight=0.5))
    # The prior learns nothing from the clips given to fit.
    np.testing.assert_array_equal(stats.transform(X[:4]),
                                  SpectralStatistics(n_mfcc=20).fit(X).transform(X[:4]))


def test_prototype_classifier_default_encoder_is_the_prior(sounds):
    X, y = sounds
    clf = PrototypeClassifier().fit(X[::2], y[::2])
    assert isinstance(clf.encoder_, SpectralStatistics)
    assert clf.encoder_.standardize == "prior" and clf.metric == "cosine"
    np.testing.assert_array_equal(clf.transform(X[:3]),
                                  fit_without_data(SpectralStatistics()).transform(X[:3]))


def test_spectrogram_input_equals_waveform_input(sounds):
    X, _ = sounds
    spec = MelSpectrogram().fit_transform(X[:4])
    from_spec = SpectralStatistics().fit(spec).transform(spec)
    np.testing.assert_allclose(from_spec, SpectralStatistics().fit(X[:4]).transform(X[:4]),
                               rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("params, error, match", [
    ({"n_mfcc": 200}, ValueError, "exceeds the 128 mel bands"),
    ({"n_mels": 64, "n_mfcc": 20}, ValueError, "prior is for n_mels=128"),
    ({"standardize": "zscore"}, InvalidParameterError, "standardize"),
    ({"top_db": 0.0}, InvalidParameterError, "top_db"),
    ({"n_mfcc": -1}, InvalidParameterError, "n_mfcc"),
])
def test_bad_parameters_raise(sounds, params, error, match):
    X, _ = sounds
    with pytest.raises(error, match=match):
        SpectralStatistics(**params).fit(X[:2])


def test_fit_mode_works_at_any_n_mels(sounds):
    X, _ = sounds
    stats = SpectralStatistics(n_mels=64, n_mfcc=20, standardize="fit").fit(X)
    assert stats.transform(X[:2]).shape == (2, 2 * 64 + 2 * 20 + sum(texture_block_sizes(64)))
