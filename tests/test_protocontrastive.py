"""ProtoContrastiveClassifier: episodic prototypical meta-training with a contrastive term."""

import copy
from dataclasses import replace

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from skfewaudio import (
    ClassDisjointSplit,
    EpisodeScorer,
    PrototypeClassifier,
    evaluate_episodes,
    load,
    make_sounds,
    save,
)
from skfewaudio.nn.encoders import Conv4Encoder, CRNNEncoder
from skfewaudio.nn.fusion import MultiViewEncoder, ViewFusion
from skfewaudio.nn.resnet import ResNetEncoder
from skfewaudio.nn.losses import PrototypicalLoss, ProtoContrastiveLoss
from skfewaudio.protocontrastive import ProtoContrastiveClassifier
from skfewaudio.protocontrastive._classifier import MIN_CORRELATION_POSITIONS, _auto_pool

# A tiny front-end and network: 8 kHz, 32 mels, 0.5 s windows.
TINY = dict(n_maps=8, n_mels=32, n_fft=256, hop_length=64, sample_rate=8000,
            window_seconds=0.5, n_way=3, n_shot=2, n_query=2, episodes_per_epoch=3,
            max_epochs=1, projection_dim=16, random_state=0)


@pytest.fixture(scope="module")
def sounds():
    X, y = make_sounds(n_classes=6, n_per_class=6, duration=0.5, sample_rate=8000,
                       random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(sounds):
    X, y = sounds
    return ProtoContrastiveClassifier(**TINY).fit(X, y)


def _episode(n_way=3, n_shot=2, n_query=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    n_support = n_way * n_shot
    labels = torch.cat([torch.arange(n_way).repeat_interleave(n_shot),
                        torch.arange(n_way).repeat_interleave(n_query)])
    # Class-dependent spectra, so the episode is learnable.
    spec = torch.randn(len(labels), 32, 24, generator=generator) + labels[:, None, None]
    return spec, labels, n_support


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    spec, labels, n_support = _episode()
    module = MultiViewEncoder(Conv4Encoder(n_maps=8), dim=8 * 2 * 2, n_views=2, augment=None,
                              projection_dim=16)
    criterion = ProtoContrastiveLoss(PrototypicalLoss(), contrastive="supcon", weight=0.5)
    optimizer = torch.optim.Adam(list(module.parameters()) + list(criterion.parameters()),
                                 lr=1e-3)
    module.train()
    before = criterion(module(spec), labels, n_support)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after = criterion(module(spec), labels, n_support)
    assert set(criterion.last_terms) == {"prototypical", "contrastive"}
    assert after.item() < before.item()


def test_fused_embedding_does_not_depend_on_view_order():
    torch.manual_seed(0)
    fusion = ViewFusion(dim=12, key_dim=4)
    views = torch.randn(5, 4, 12)
    fused = fusion(views)
    for order in ([3, 1, 0, 2], [2, 3, 1, 0]):
        torch.testing.assert_close(fusion(views[:, order]), fused)
    # ... while the views matter: another view set gives another embedding.
    assert not torch.allclose(fusion(views + torch.randn(5, 4, 12)), fused)
    # One view passes through unchanged: n_views=1 means no fusion.
    torch.testing.assert_close(fusion(views[:, :1]), views[:, 0])


def test_identical_views_fuse_to_that_view():
    # Why prediction can encode the unmasked spectrogram once (documented rule).
    fusion = ViewFusion(dim=6, key_dim=3)
    view = torch.randn(2, 1, 6)
    torch.testing.assert_close(fusion(view.repeat(1, 3, 1)), view[:, 0])


def test_no_contrast_and_one_view_is_a_prototypical_network():
    torch.manual_seed(0)
    spec, labels, n_support = _episode()
    encoder = Conv4Encoder(n_maps=8)
    module = MultiViewEncoder(encoder, dim=32, n_views=1, augment=None, projection_dim=16)
    criterion = ProtoContrastiveLoss(PrototypicalLoss(), contrastive="supcon", weight=0.0)
    module.train()
    loss = criterion(module(spec), labels, n_support)
    # Prototypical loss written out by hand on the bare encoder.
    embeddings = encoder(spec.unsqueeze(1))
    support, query = embeddings[:n_support], embeddings[n_support:]
    prototypes = torch.stack([support[labels[:n_support] == k].mean(0) for k in range(3)])
    logits = -((query[:, None, :] - prototypes[None]) ** 2).sum(-1)
    expected = torch.nn.functional.cross_entropy(logits, labels[n_support:])
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-4)


def test_zero_weight_trains_exactly_like_plain_protonet(sounds):
    X, y = sounds
    settings = dict(TINY, n_views=1, augment=False)
    weighted = ProtoContrastiveClassifier(**settings, contrastive="supcon",
                                          contrastive_weight=0.0).fit(X, y)
    plain = ProtoContrastiveClassifier(**settings, contrastive=None).fit(X, y)
    np.testing.assert_allclose(weighted.transform(X), plain.transform(X), rtol=1e-5, atol=1e-5)


def test_meta_training_beats_the_untrained_front_end_on_novel_classes():
    X, y = make_sounds(n_classes=24, n_per_class=10, duration=0.5, sample_rate=8000,
                       snr_db=(-5, 5), variation=2.0, random_state=0)
    classes = np.unique(y)
    novel = np.isin(y, np.random.RandomState(0).permutation(classes)[:6])
    protocol = dict(n_way=5, n_shot=1, n_query=1, n_episodes=300, random_state=0)
    baseline = max(
        evaluate_episodes(PrototypeClassifier(metric=metric, sample_rate=8000),
                          X[novel], y[novel], **protocol)["accuracy"]
        for metric in ("euclidean", "cosine")
    )
    settings = dict(TINY, n_maps=16, lr=3e-3, n_way=6, episodes_per_epoch=30, max_epochs=2,
                    n_views=1, augment=False, contrastive="angular")
    meta = ProtoContrastiveClassifier(**settings).fit(X[~novel], y[~novel])
    learned = evaluate_episodes(meta, X[novel], y[novel], **protocol)
    assert learned["embedded_once"]
    assert learned["accuracy"] > baseline + 0.03


def test_few_shot_api_with_frozen_meta_model(sounds, fitted):
    X, y = sounds
    clf = PrototypeClassifier(encoder=FrozenEstimator(fitted), metric=fitted.metric)
    clf.fit(X[::2], y[::2])
    assert clf.predict(X[1::2]).shape == (len(X) // 2,)
    np.testing.assert_allclose(clf.transform(X), fitted.transform(X))
    # clone keeps the meta-trained network (FrozenEstimator), so refitting is cheap
    refit = clone(clf).fit(X[::2], y[::2])
    np.testing.assert_array_equal(refit.predict(X[1::2]), clf.predict(X[1::2]))


def test_fitted_classifier_predicts_base_classes(sounds, fitted):
    X, y = sounds
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    assert fitted.transform(X).dtype == np.float32
    assert 0 <= fitted.score(X, y) <= 1


def test_same_seed_same_model(sounds, fitted):
    X, y = sounds
    again = ProtoContrastiveClassifier(**TINY).fit(X, y)
    # Equal up to float summation order (oneDNN convolutions are not bit-reproducible).
    np.testing.assert_allclose(again.transform(X), fitted.transform(X), rtol=1e-4, atol=1e-6)
    other = ProtoContrastiveClassifier(**dict(TINY, random_state=1)).fit(X, y)
    assert not np.allclose(other.transform(X), fitted.transform(X))


def test_joblib_round_trip_gives_identical_predictions(tmp_path, sounds, fitted):
    X, _ = sounds
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_long_clips_average_their_windows(sounds, fitted):
    X, _ = sounds
    # A clip made of the same 0.5 s window twice embeds like that window.
    clips = [np.concatenate([X[0], X[0]]), X[1][:2000], X[2]]  # long, short (padded), exact
    embeddings = fitted.transform(clips)
    assert embeddings.shape == (3, fitted.prototypes_.shape[1])
    assert np.all(np.isfinite(embeddings))
    np.testing.assert_allclose(embeddings[0], fitted.transform(X[:1])[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(embeddings[2], fitted.transform(X[2:3])[0], rtol=1e-4, atol=1e-5)
    # Probabilities of a long clip are the mean over its windows (a soft vote).
    windows = fitted.frontend_.transform(clips[:1])
    assert len(windows.owner) == 2
    np.testing.assert_allclose(fitted.predict_proba(clips[:1])[0],
                               fitted.predict_proba(X[:1])[0], rtol=1e-4)


def test_validation_keeps_the_best_epoch(sounds):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:4])
    clf = ProtoContrastiveClassifier(**dict(TINY, max_epochs=3, validation_episodes=50))
    clf.fit(X[base], y[base], X_val=X[~base], y_val=y[~base])
    accuracies = clf.net_.history[:, "valid_acc_1shot"]
    assert len(accuracies) == 3
    assert clf.best_epoch_ == int(np.argmax(accuracies)) + 1


def test_crnn_and_custom_encoders(sounds):
    X, y = sounds
    crnn = ProtoContrastiveClassifier(**dict(TINY, encoder="crnn", n_views=2)).fit(X, y)
    assert crnn.transform(X[:2]).shape == (2, 128)
    custom = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten())
    clf = ProtoContrastiveClassifier(**dict(TINY, encoder=custom)).fit(X, y)
    assert clf.transform(X[:2]).shape == (2, 4)
    assert custom[0].weight.grad is None  # the user's module is copied, not trained


def test_module_params_reach_the_built_in_encoder(sounds):
    X, y = sounds
    params = dict(TINY, module_params={"encoder_params": {"pool": "meanmax"}})
    clf = ProtoContrastiveClassifier(**params).fit(X, y)
    encoder = clf.net_.module_.encoder
    assert encoder.pool == "meanmax"
    # Mean and max over time of 8 maps x 1 mel row (32 mels / first stride 2 / four
    # 2x2 pools), whatever the number of frames; "flatten" would keep the time axis.
    assert clf.transform(X[:2]).shape == (2, 2 * 8 * 1)


def test_test_time_shifts_average_the_rolled_windows(sounds, fitted):
    X, _ = sounds
    clf = copy.deepcopy(fitted)  # the fixture is shared
    specs = clf.frontend_.transform(X[:4], normalize=False).spectrograms
    n_frames = specs.shape[-1]
    plain = clf.transform(specs)
    rolled = clf.transform(np.roll(specs, 3, axis=-1))
    # A roll by the whole window is the window itself: the mean is the plain embedding,
    # clip by clip (a mix-up of clips and rolls in the batch would break this).
    assert np.allclose(clf.set_params(test_time_shifts=(n_frames,)).transform(specs), plain,
                       atol=1e-6)
    averaged = clf.set_params(test_time_shifts=(3,)).transform(specs)
    assert np.allclose(averaged, (plain + rolled) / 2, atol=1e-5)
    assert not np.allclose(averaged, plain, atol=1e-3)
    with pytest.raises(ValueError, match="whole numbers of frames"):
        clf.set_params(test_time_shifts=(2.5,)).transform(specs)


def test_flatten_plus_stats_pool_joins_the_scaled_map_and_its_time_statistics():
    maps = torch.randn(3, 4, 2, 5)  # (batch, maps, freq, time)
    encoder = Conv4Encoder(n_maps=4, pool="flatten+stats")
    encoder.blocks = torch.nn.Identity()  # pool a known map
    pooled = encoder(maps)
    rows = maps.reshape(3, 8, 5)
    n_flat = 4 * 2 * 5
    assert torch.allclose(pooled[:, :n_flat], maps.flatten(1) / np.sqrt(5))
    assert torch.allclose(pooled[:, n_flat:n_flat + 8], rows.mean(2))
    assert torch.allclose(pooled[:, n_flat + 8:], rows.std(2, correction=0))
    # The two halves weigh alike in a cosine similarity, clip by clip.
    assert torch.allclose(pooled[:, :n_flat].norm(dim=1), pooled[:, n_flat:].norm(dim=1))
    with pytest.raises(ValueError, match="pool must be one of"):
        Conv4Encoder(pool="median")


def test_flatten_plus_texture_pool_adds_the_correlations_between_maps():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 3, 2, 4, generator=generator)  # (batch, maps, freq, time)
    maps[:, 1] = 2 * maps[:, 0] + 1  # map 1 follows map 0 exactly
    maps[:, 2] = 0.5  # map 2 is constant, as a map ReLU silenced
    encoder = Conv4Encoder(n_maps=3, pool="flatten+texture")
    encoder.blocks = torch.nn.Identity()
    pooled = encoder(maps)
    n_flat, n_stats = 3 * 2 * 4, 2 * 3 * 2
    flat, stats, correlations = pooled.split([n_flat, n_stats, 3], dim=1)
    stats_part = Conv4Encoder(n_maps=3, pool="flatten+stats")
    stats_part.blocks = torch.nn.Identity()
    expected_stats = stats_part(maps)[:, n_flat:]
    assert torch.allclose(flat * np.sqrt(3), maps.flatten(1) / maps.flatten(1).norm(dim=1,
                                                                                keepdim=True))
    assert torch.allclose(stats * np.sqrt(3), expected_stats / expected_stats.norm(
        dim=1, keepdim=True))
    # Pairs (0, 1), (0, 2), (1, 2), scaled like the other parts.
    unit = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(correlations * np.sqrt(3), unit.expand(2, 3), atol=1e-5)
    assert torch.allclose(pooled.norm(dim=1), torch.ones(2))


@pytest.mark.parametrize("n_mels, n_frames, in_stride", [(128, 157, 2), (32, 63, 2), (40, 9, 1)])
def test_map_shape_is_the_shape_of_the_last_feature_map(n_mels, n_frames, in_stride):
    encoder = Conv4Encoder(n_maps=2, in_stride=in_stride).eval()
    maps = encoder.blocks(torch.zeros(1, 1, n_mels, n_frames))
    assert encoder.map_shape(n_mels, n_frames) == tuple(maps.shape[2:])


def test_auto_pool_uses_correlations_only_over_enough_positions():
    encoder = Conv4Encoder(n_maps=2, in_stride=2)
    assert _auto_pool(encoder, (128, 157)) == "flatten+texture"  # 4 x 5 positions
    assert _auto_pool(encoder, (128, 32)) == "flatten+stats"  # 4 x 1
    assert _auto_pool(Conv4Encoder(pool="meanmax"), (128, 157)) is None  # its own pool
    resnet = ResNetEncoder((2, 4, 8), n_convs=1, input_pool=(2, 2))
    assert _auto_pool(resnet, (128, 157)) == "max+texture"  # 16 x 10 positions
    assert _auto_pool(resnet, (32, 16)) is None  # 4 x 1: the trained max-pool


@pytest.mark.parametrize("n_mels, n_frames", [(128, 250), (32, 63), (16, 1)])
def test_resnet_map_shape_is_the_shape_of_the_last_feature_map(n_mels, n_frames):
    encoder = ResNetEncoder((2, 4, 8), n_convs=1, input_pool=(2, 2)).eval()
    maps = encoder.input_pool(torch.zeros(1, 1, n_mels, n_frames))
    for block in encoder.blocks:
        maps = block(maps)
    assert encoder.map_shape(n_mels, n_frames) == tuple(maps.shape[2:])


def test_resnet_reads_texture_statistics_beside_its_max_pooled_embedding(sounds, tmp_path):
    X, y = sounds
    clf = ProtoContrastiveClassifier(**dict(TINY, encoder="resnet")).fit(X, y)
    encoder = clf.net_.module_.encoder
    assert isinstance(encoder, ResNetEncoder) and encoder.pool == "max"
    # n_maps=8: blocks of 4, 8 and 16 maps; 32 mels pooled to 8 rows: 16 x 8 dims.
    plain = clf.set_params(test_time_pool=None).transform(X[:4])
    assert plain.shape == (4, 16 * 8)
    rows, steps = encoder.map_shape(clf.n_mels, clf.frontend_.window_frames)
    assert rows * steps >= MIN_CORRELATION_POSITIONS
    auto = clf.set_params(test_time_pool="auto").transform(X[:4])
    np.testing.assert_array_equal(auto, clf.set_params(test_time_pool="max+texture")
                                  .transform(X[:4]))
    assert auto.shape[1] == 16 * 8 + 2 * 16 * rows + 16 * 15 // 2
    unit_plain = plain / np.linalg.norm(plain, axis=1, keepdims=True)
    np.testing.assert_allclose(auto[:, :plain.shape[1]] * np.sqrt(3), unit_plain,
                               rtol=1e-4, atol=1e-5)
    assert encoder.pool == "max"  # only an inference copy reads differently
    save(clf, tmp_path / "resnet.safetensors")  # rebuilt from its parameters
    np.testing.assert_array_equal(load(tmp_path / "resnet.safetensors").transform(X[:4]), auto)
    with pytest.raises(ValueError, match="'flatten' is not a pool of the ResNetEncoder"):
        clf.set_params(test_time_pool="flatten").transform(X[:4])


LOG_MEL = {"compression": "log", "frequency_scale": "mel"}  # the defaults


@pytest.mark.parametrize("front_end", [{"compression": "pcen"}, {"frequency_scale": "linear"},
                                       {"compression": "pcen", "pcen_time_constant": 0.06}])
def test_front_end_settings_train_and_survive_save_and_load(sounds, tmp_path, front_end):
    X, y = sounds
    clf = ProtoContrastiveClassifier(**TINY, **front_end).fit(X, y)
    assert all(getattr(clf.frontend_, k) == v for k, v in front_end.items())
    ours = clf.frontend_.transform(X[:4], normalize=False).spectrograms
    log_mel = replace(clf.frontend_, **LOG_MEL).transform(X[:4], normalize=False).spectrograms
    assert ours.shape == log_mel.shape and not np.allclose(ours, log_mel, atol=1.0)
    save(clf, tmp_path / "model.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "model.safetensors").transform(X[:4]),
                                  clf.transform(X[:4]))


def test_test_time_pool_changes_the_embedding_not_the_trained_network(sounds, fitted):
    X, y = sounds
    clf = copy.deepcopy(fitted)  # the fixture is shared, fitted with the default "auto"
    auto = clf.transform(X[:4])
    plain = clf.set_params(test_time_pool=None).transform(X[:4])  # the trained flatten
    stats = clf.set_params(test_time_pool="flatten+stats").transform(X[:4])
    pooled = clf.set_params(test_time_pool="flatten+texture").transform(X[:4])
    last_map = clf.net_.module_.encoder.blocks(
        torch.zeros(1, 1, clf.n_mels, clf.frontend_.window_frames))
    # The tiny window's last map has 1 x 2 positions, too few for correlations: "auto"
    # leaves them out.
    assert last_map.shape[2] * last_map.shape[3] < MIN_CORRELATION_POSITIONS
    np.testing.assert_array_equal(auto, stats)
    n_maps, n_rows = last_map.shape[1], last_map.shape[1] * last_map.shape[2]
    assert stats.shape[1] == plain.shape[1] + 2 * n_rows
    assert pooled.shape[1] == stats.shape[1] + n_maps * (n_maps - 1) // 2
    np.testing.assert_allclose(stats[:, :plain.shape[1]] * np.sqrt(last_map.shape[3]), plain,
                               rtol=1e-4, atol=1e-5)
    unit_plain = plain / np.linalg.norm(plain, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled[:, :plain.shape[1]] * np.sqrt(3), unit_plain,
                               rtol=1e-4, atol=1e-5)
    assert clf.net_.module_.encoder.pool == "flatten"  # only a copy pools differently
    with pytest.raises(ValueError, match="test_time_pool='flatten\\+texture' changed its"):
        clf.predict(X[:4])
    assert clf.set_params(test_time_pool="auto").predict(X).shape == (len(X),)
    custom = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten())
    with pytest.raises(ValueError, match="'mean' is not a pool of the Sequential"):
        ProtoContrastiveClassifier(**dict(TINY, encoder=custom),
                                   test_time_pool="mean").fit(X, y)


def test_grid_search_with_class_disjoint_split_and_episode_scorer():
    X, y = make_sounds(n_classes=8, n_per_class=5, duration=0.5, sample_rate=8000,
                       random_state=1)
    search = GridSearchCV(
        ProtoContrastiveClassifier(**dict(TINY, episodes_per_epoch=2)),
        {"contrastive": [None, "angular"]},
        cv=ClassDisjointSplit(n_splits=2, test_size=3, random_state=0),
        scoring=EpisodeScorer(n_way=3, n_shot=1, n_episodes=20),
    )
    search.fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.classes_.tolist() == np.unique(y).tolist()


def test_clear_errors_on_too_few_classes_or_clips(sounds):
    X, y = sounds
    with pytest.raises(ValueError, match="n_way=7 but y has only 6 base classes"):
        ProtoContrastiveClassifier(**dict(TINY, n_way=7)).fit(X, y)
    with pytest.raises(ValueError, match=r"fewer than n_shot \+ n_query = 7 clips"):
        ProtoContrastiveClassifier(**dict(TINY, n_shot=4, n_query=3)).fit(X, y)
    with pytest.raises(ValueError, match="X_val and y_val"):
        ProtoContrastiveClassifier(**TINY).fit(X, y, X_val=X)


def test_encoders_shapes():
    spec = torch.zeros(2, 128, 157)
    assert Conv4Encoder()(spec).shape == (2, 64 * 8 * 10)
    assert Conv4Encoder(pool="mean")(spec).shape == (2, 64)
    assert CRNNEncoder()(spec).shape == (2, 128)


def test_fit_leaves_the_global_torch_random_stream_alone():
    X, y = make_sounds(n_classes=3, n_per_class=3, duration=0.1, sample_rate=8000,
                       random_state=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ProtoContrastiveClassifier(**ProtoContrastiveClassifier.get_test_params()).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_same_seed_gives_bit_identical_model_on_one_thread():
    X, y = make_sounds(n_classes=4, n_per_class=4, duration=0.2, sample_rate=8000,
                       random_state=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # several threads sum in a varying order (docs/api.md)
    try:
        params = ProtoContrastiveClassifier.get_test_params()
        first = ProtoContrastiveClassifier(**params).fit(X, y).transform(X)
        second = ProtoContrastiveClassifier(**params).fit(X, y).transform(X)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(first, second)
