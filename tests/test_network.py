"""The network base shared by the four network estimators: device rule, seeding,
pass-through of optimizer / callbacks / module settings, early stopping, resume."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skfewaudio import (
    ClassDisjointSplit,
    EpisodeScorer,
    FineTuneClassifier,
    MultiGrainedCLAPAdapter,
    ProtoContrastiveClassifier,
    SupConPretrainer,
    make_sounds,
)
from skfewaudio._torch_utils import resolve_device
from skfewaudio.utils._discovery import missing_test_requirements

SR = 8000


@pytest.fixture(scope="module")
def sounds():
    return make_sounds(n_classes=4, n_per_class=6, duration=0.25, sample_rate=SR,
                       random_state=0)


def _proto(**params):
    return ProtoContrastiveClassifier(**{
        "n_maps": 4, "n_mels": 16, "n_fft": 128, "hop_length": 64, "sample_rate": SR,
        "window_seconds": 0.25, "n_way": 2, "n_shot": 1, "n_query": 1,
        "episodes_per_epoch": 2, "max_epochs": 3, "projection_dim": 8,
        "contrastive": "supcon", "random_state": 0, **params})


def _supcon(**params):
    return SupConPretrainer(**{
        "encoder": "small", "n_mels": 16, "n_fft": 128, "hop_length": 64, "sample_rate": SR,
        "window_seconds": 0.25, "batch_size": 8, "max_epochs": 3, "projection_dim": 8,
        "projection_hidden": 8, "random_state": 0, **params})


@pytest.fixture(scope="module")
def pretrained(sounds):
    return _supcon(max_epochs=1).fit(*sounds)


def _finetune(pretrained, **params):
    return FineTuneClassifier(FrozenEstimator(pretrained), **{
        "n_blocks": 1, "max_epochs": 3, "batch_size": 8, "random_state": 0, **params})


def _clap(**params):
    return MultiGrainedCLAPAdapter("random-audio-minilm", **{
        "sample_rate": SR, "max_epochs": 3, "batch_size": 4, "lr": 1e-2, "ot_max_iter": 10,
        "random_state": 0, **params})


BUILDERS = {"protocontrastive": _proto, "supcon": _supcon, "finetune": None, "clap": _clap}


@pytest.fixture(params=list(BUILDERS))
def make(request, pretrained):
    """A factory of tiny, fast estimators of each kind (keyword overrides)."""
    missing = missing_test_requirements(MultiGrainedCLAPAdapter)
    if request.param == "clap" and missing:
        pytest.skip(f"the offline CLAP backbone needs {missing} (the clap extra)")
    if request.param == "finetune":
        return lambda **params: _finetune(pretrained, **params)
    return BUILDERS[request.param]


def _outputs(estimator, X):
    return estimator.transform(X) if hasattr(estimator, "transform") else \
        estimator.predict_proba(X)


class StopAfter(Callback):
    """Simulates an interrupted fit: Ctrl-C after ``epochs`` epochs."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epochs:
            raise KeyboardInterrupt


EPOCHS_RUN = []  # module-level: the estimator trains a copy of each user callback


class RecordEpochs(Callback):
    def on_epoch_end(self, net, **kwargs):
        EPOCHS_RUN.append(len(net.history))


class CountEpochs(Callback):
    def initialize(self):
        self.seen_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.seen_ += 1


# ------------------------------------------------------------------ device rule
def test_one_device_rule():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
                resolve_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_every_network_estimator_refuses_a_missing_gpu_the_same_way(make, sounds):
    with pytest.raises(ValueError, match=r"device='cuda:1' was asked for but torch sees no"):
        make(device="cuda:1").fit(*sounds)


# ------------------------------------------------------------------ seeding
def test_fit_leaves_the_callers_random_streams_alone(make, sounds):
    torch.manual_seed(123)
    np.random.seed(5)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(5)
    make(max_epochs=1).fit(*sounds)
    torch.testing.assert_close(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


# --------------------------------------------------------------- pass-through
def test_optimizer_and_its_settings_are_passed_through(make, sounds):
    est = make(max_epochs=1, optimizer=torch.optim.SGD,
               optimizer_params={"momentum": 0.5, "nesterov": True}).fit(*sounds)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)
    group = est.net_.optimizer_.param_groups[0]
    assert group["momentum"] == 0.5 and group["nesterov"]


@pytest.mark.parametrize("make, optimizer, setting", [
    (_supcon, torch.optim.SGD, ("momentum", 0.5)),
    (_proto, torch.optim.Adam, ("betas", (0.5, 0.9))),
])
def test_default_optimizer_settings_are_updated_not_replaced(make, optimizer, setting, sounds):
    key, value = setting
    est = make(max_epochs=1, weight_decay=1e-3, optimizer_params={key: value}).fit(*sounds)
    group = est.net_.optimizer_.param_groups[0]
    assert isinstance(est.net_.optimizer_, optimizer)
    assert group[key] == value and group["weight_decay"] == 1e-3


def test_user_callbacks_run_and_are_not_modified(make, sounds):
    counter = CountEpochs()
    est = make(max_epochs=2, callbacks=[("count", counter)]).fit(*sounds)
    assert len(est.net_.history) == 2
    assert not hasattr(counter, "seen_")  # the estimator trained a copy
    assert est.get_params()["callbacks"][0][1] is counter


def test_module_params_reach_the_built_in_module(sounds):
    est = _proto(max_epochs=1, n_views=2, module_params={"key_dim": 6}).fit(*sounds)
    assert est.net_.module_.fusion.key_dim == 6
    with pytest.raises(TypeError, match="no_such_setting"):
        _proto(max_epochs=1, module_params={"no_such_setting": 1}).fit(*sounds)


def test_grid_search_over_optimizer_params():
    X, y = make_sounds(n_classes=6, n_per_class=4, duration=0.25, sample_rate=SR,
                       random_state=1)
    search = GridSearchCV(
        _proto(max_epochs=1),
        {"optimizer_params": [{"betas": (0.9, 0.999)}, {"betas": (0.5, 0.9)}]},
        cv=ClassDisjointSplit(n_splits=2, test_size=3, random_state=0),
        scoring=EpisodeScorer(n_way=3, n_shot=1, n_episodes=10),
    )
    search.fit(X, y)
    assert search.best_params_["optimizer_params"]["betas"] in [(0.9, 0.999), (0.5, 0.9)]
    assert search.best_estimator_.net_.optimizer_.param_groups[0]["betas"] == \
        search.best_params_["optimizer_params"]["betas"]


# ------------------------------------------------------------- early stopping
def test_patience_stops_with_skorch_early_stopping_and_keeps_the_best_epoch(sounds):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:2])
    est = _proto(max_epochs=30, patience=2, lr=1e-9, validation_episodes=20)
    est.fit(X[base], y[base], X_val=X[~base], y_val=y[~base])
    history = est.net_.history[:, "valid_acc_1shot"]
    assert len(history) < 30  # a learning rate of 1e-9 cannot keep improving
    assert est.best_epoch_ == int(np.argmax(history)) + 1


# ----------------------------------------------------------- resumable training
@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-identical sums (docs/training.md)
    yield
    torch.set_num_threads(threads)


def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(make, sounds, tmp_path,
                                                               one_thread):
    X, y = sounds
    full = make(max_epochs=3).fit(X, y)
    interrupted = make(max_epochs=3, checkpoint_dir=tmp_path,
                       callbacks=[StopAfter(2)]).fit(X, y)
    assert len(interrupted.net_.history) == 2
    EPOCHS_RUN.clear()
    resumed = make(max_epochs=3, checkpoint_dir=tmp_path, callbacks=[RecordEpochs()]).fit(X, y)
    # The checkpoint of epoch 1 was written (epoch 2 was cut short before its own):
    # the resumed fit runs epochs 2 and 3 only.
    assert EPOCHS_RUN == [2, 3]
    assert len(resumed.net_.history) == 3
    np.testing.assert_array_equal(_outputs(resumed, X), _outputs(full, X))
    np.testing.assert_array_equal(resumed.net_.history[:, "train_loss"],
                                  full.net_.history[:, "train_loss"])


def test_resume_with_validation_and_early_stopping(sounds, tmp_path, one_thread):
    X, y = sounds
    base = np.isin(y, np.unique(y)[:2])
    fit = dict(X_val=X[~base], y_val=y[~base])
    settings = dict(max_epochs=4, validation_episodes=20)
    full = _proto(**settings).fit(X[base], y[base], **fit)
    _proto(**settings, checkpoint_dir=tmp_path, callbacks=[StopAfter(3)]).fit(
        X[base], y[base], **fit)
    resumed = _proto(**settings, checkpoint_dir=tmp_path).fit(X[base], y[base], **fit)
    assert resumed.best_epoch_ == full.best_epoch_
    np.testing.assert_array_equal(resumed.transform(X), full.transform(X))


def test_a_checkpoint_of_another_fit_is_refused(sounds, tmp_path):
    X, y = sounds
    _proto(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ValueError, match="checkpoint of another fit"):
        _proto(max_epochs=1, lr=0.5, checkpoint_dir=tmp_path).fit(X, y)


def test_clone_of_a_checkpointing_estimator_keeps_the_setting(tmp_path):
    est = _proto(checkpoint_dir=tmp_path)
    assert clone(est).get_params()["checkpoint_dir"] == tmp_path


# -------------------------------------------------------------------- pickling
def test_fitted_nets_keep_only_what_inference_needs(make, sounds):
    est = make(max_epochs=1, callbacks=[CountEpochs()]).fit(*sounds)
    names = [name for name, _ in est.net_.callbacks_]
    assert names == ["epoch_timer", "train_loss", "valid_loss", "print_log"]  # skorch defaults
    assert not est.net_.module_.training
    assert est.fit_seconds_ > 0
