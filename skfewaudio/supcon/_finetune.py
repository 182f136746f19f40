"""Few-shot head on a pre-trained encoder: linear classifier + partial fine-tuning."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier

from .._torch_utils import resolve_device, torch_seed
from .._validation import (
    WAVEFORM_EXPECTED_FAILED_CHECKS,
    check_labels,
    check_query_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .._windows import combine_by_clip
from ..nn.augment import RandomTimeCrop
from ..nn.heads import FineTuneNet
from ._pretrainer import SupConPretrainer


class FineTuneClassifier(ClassifierMixin, BaseEstimator):
    """Few-shot classifier: a linear head on a pre-trained encoder, optionally
    fine-tuning its last blocks on the support set (method C's systems 1-4).

    ``n_blocks=0`` trains only the linear head on the frozen encoder (system 1),
    ``1``, ``2`` and ``"all"`` also fine-tune the last block, the last two blocks or
    the whole encoder (systems 2-4). Training uses light augmentation (random time
    crop of 90-100 % resized back) and Adam; method C's settings are the defaults:
    lr 0.01 for 20 epochs with a frozen encoder, lr 0.001 for 40 epochs otherwise.
    The pre-trained encoder itself is never modified: a copy is fine-tuned.

    Parameters
    ----------
    encoder : SupConPretrainer, FrozenEstimator of one, or None, default=None
        A fitted pre-trainer is used as it is (wrap it in
        ``sklearn.frozen.FrozenEstimator`` to keep it fitted through ``clone``). An
        unfitted one is first fitted on the support set: supervised when every class
        has at least two clips, otherwise self-supervised. None is an error at fit:
        this head needs an encoder.
    n_blocks : {0, 1, 2, ..., "all"}, default=0
        Encoder blocks to fine-tune, counted from the last.
    max_epochs : int or None, default=None
        None: 20 when ``n_blocks=0``, else 40.
    lr : float or None, default=None
        Adam learning rate; None: 0.01 when ``n_blocks=0``, else 0.001.
    batch_size : int, default=32
    time_crop : (float, float) or None, default=(0.9, 1.0)
        Range of the random time crop used as augmentation; None switches it off.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    encoder_ : SupConPretrainer
        The fitted pre-trainer whose front-end and encoder were used.
    net_ : skorch.NeuralNetClassifier
        The fine-tuned network (``net_.module_.encoder``, ``net_.module_.head``).

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skfewaudio import make_sounds
    >>> from skfewaudio.supcon import FineTuneClassifier, SupConPretrainer
    >>> X, y = make_sounds(n_classes=4, n_per_class=6, duration=0.5, random_state=0)
    >>> pre = SupConPretrainer(encoder="small", window_seconds=0.5, max_epochs=1,
    ...                        batch_size=12, random_state=0).fit(X, y)
    >>> clf = FineTuneClassifier(FrozenEstimator(pre), n_blocks=1, max_epochs=2,
    ...                          random_state=0).fit(X[::2], y[::2])
    >>> clf.predict(X[1::2]).shape
    (12,)
    """

    _parameter_constraints = {
        "encoder": [HasMethods(["fit", "transform"]), None],
        "n_blocks": [Interval(Integral, 0, None, closed="left"), StrOptions({"all"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "time_crop": [tuple, list, None],
        "device": [StrOptions({"cpu", "cuda", "auto"}), str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, encoder=None, *, n_blocks=0, max_epochs=None, lr=None, batch_size=32,
                 time_crop=(0.9, 1.0), device="cpu", random_state=None, verbose=0):
        self.encoder = encoder
        self.n_blocks = n_blocks
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.time_crop = time_crop
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        """Tiny, fast settings for the test-suite: a tiny encoder pre-trained on
        synthetic sounds, frozen, with its last block fine-tuned."""
        from ..datasets import make_sounds

        X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.1, random_state=0)
        pre = SupConPretrainer(**SupConPretrainer.get_test_params()).fit(X, y)
        return {"encoder": FrozenEstimator(pre), "n_blocks": 1, "max_epochs": 2,
                "random_state": 0}

    def fit(self, X, y):
        """Train the head (and the chosen encoder blocks) on the support set.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Support clips.
        y : array-like of shape (n_clips,)
            Their classes; at least two.

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_fit_audio(self, X)
        y = check_labels(y, len(X), estimator=self)
        if self.encoder is None:
            raise ValueError(
                "FineTuneClassifier needs an encoder: pass a fitted SupConPretrainer "
                "(ideally wrapped in sklearn.frozen.FrozenEstimator)."
            )
        return self._fit(X, y)

    def _fit(self, X, y):
        device = resolve_device(self.device)
        self.encoder_ = _fitted_pretrainer(self.encoder, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        windows = self.encoder_.frontend_.transform(X)
        labels = codes[windows.owner].astype(np.int64)
        frozen = self.n_blocks == 0
        max_epochs = self.max_epochs or (20 if frozen else 40)
        lr = self.lr or (0.01 if frozen else 0.001)
        seed = torch_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = copy.deepcopy(self.encoder_.net_.module_.encoder).to("cpu")
            augment = None
            if self.time_crop is not None:
                augment = RandomTimeCrop(*self.time_crop,
                                         generator=torch.Generator().manual_seed(seed))
            module = FineTuneNet(encoder, self.encoder_.embedding_dim_, len(self.classes_),
                                 n_blocks=self.n_blocks, augment=augment)
            self.net_ = NeuralNetClassifier(
                module,
                criterion=torch.nn.CrossEntropyLoss,
                optimizer=torch.optim.Adam,
                lr=lr,
                max_epochs=max_epochs,
                batch_size=self.batch_size,
                iterator_train__shuffle=True,
                train_split=None,
                device=device,
                verbose=int(bool(self.verbose)),
                classes=np.arange(len(self.classes_)),
            )
            self.net_.fit(windows.spectrograms, labels)
        self.net_.module_.eval()
        return self

    def predict_proba(self, X):
        """Class probabilities, the mean over each clip's windows.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
        """
        X = validate_audio_after_fit(self, X)
        windows = self.encoder_.frontend_.transform(X)
        with torch.inference_mode():
            proba = self.net_.predict_proba(windows.spectrograms)
        return combine_by_clip(proba, windows.owner, windows.n_clips)

    def predict(self, X):
        """Most probable class of each clip, shape (n_clips,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on labelled queries; their labels must all be support classes."""
        check_is_fitted(self)
        check_query_labels(y, self.classes_)
        return super().score(X, y, sample_weight=sample_weight)

    _expected_failed_checks = {
        **WAVEFORM_EXPECTED_FAILED_CHECKS,
        "check_estimators_overwrite_params": (
            "the check compares joblib.hash of a deepcopy of the fitted torch encoder "
            "with the original, whose serialised bytes differ though every tensor is "
            "equal; tests/test_supcon.py checks that fit leaves the encoder unchanged"
        ),
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def _fitted_pretrainer(encoder, X, y):
    """The fitted SupConPretrainer behind ``encoder`` (fit on the support set if needed)."""
    inner = getattr(encoder, "estimator", encoder)  # FrozenEstimator wraps .estimator
    if not isinstance(inner, SupConPretrainer):
        raise TypeError(
            f"encoder must be a SupConPretrainer (or a FrozenEstimator of one), got "
            f"{type(inner).__name__}; for any other transformer use PrototypeClassifier "
            "or make_pipeline(FrozenEstimator(encoder), LogisticRegression())."
        )
    try:
        check_is_fitted(inner)
        return inner
    except NotFittedError:
        pass
    counts = np.unique(y, return_counts=True)[1]
    labels = y if counts.min() >= 2 else None
    return clone(inner).fit(X, labels)
