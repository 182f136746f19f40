"""Few-shot head on a pre-trained encoder: linear classifier + partial fine-tuning."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._encoders import fitted_or_none
from .._network import NETWORK_PARAMETER_CONSTRAINTS, NetworkClassifierMixin, NetworkEstimator
from .._torch_utils import output_dim
from .._validation import (
    CLASSIFIER_EXPECTED_FAILED_CHECKS,
    check_fit_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .._windows import combine_by_clip
from ..nn.augment import RandomTimeCrop
from ..nn.heads import FineTuneNet
from ..nn.inference import inference_module
from ._pretrainer import SupConPretrainer


class FineTuneClassifier(NetworkClassifierMixin, NetworkEstimator):
    """Few-shot classifier: a linear head on a pre-trained encoder, optionally
    fine-tuning its last blocks on the support set (Moummad et al.'s systems 1-4).

    ``n_blocks=0`` trains only the linear head on the frozen encoder (system 1),
    ``1``, ``2`` and ``"all"`` also fine-tune the last block, the last two blocks or
    the whole encoder (systems 2-4). Training uses light augmentation (random time
    crop of 90-100 % resized back) and Adam; Moummad et al.'s settings are the defaults:
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
        Training windows per batch.
    time_crop : (float, float) or None, default=(0.9, 1.0)
        Range of the random time crop used as augmentation; None switches it off.
    optimizer : torch optimizer class or None, default=None
        None is Adam.
    optimizer_params : dict or None, default=None
        Keyword arguments of the optimizer.
    callbacks : list of skorch callbacks or None, default=None
        Added after the estimator's own.
    module_params : dict or None, default=None
        Keyword arguments of :func:`~skfewaudio.supcon._finetune.finetune_network`.
    embed_batch_size : int, default=128
        Windows per forward pass in ``predict_proba``.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
    checkpoint_dir : str, path-like or None, default=None
        Write a checkpoint there after every epoch; a later ``fit`` with the same
        parameters and data resumes from it.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    encoder_ : SupConPretrainer
        The fitted pre-trainer whose front-end and encoder were used.
    net_ : skorch.NeuralNet
        The fine-tuned network (``net_.module_.encoder``, ``net_.module_.head``).
    fit_seconds_ : float
        Wall time of ``fit``.

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
        **NETWORK_PARAMETER_CONSTRAINTS,
        "encoder": [HasMethods(["fit", "transform"]), None],
        "n_blocks": [Interval(Integral, 0, None, closed="left"), StrOptions({"all"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "time_crop": [tuple, list, None],
    }

    def __init__(self, encoder=None, *, n_blocks=0, max_epochs=None, lr=None, batch_size=32,
                 time_crop=(0.9, 1.0), optimizer=None, optimizer_params=None, callbacks=None,
                 module_params=None, embed_batch_size=128, device="cpu", checkpoint_dir=None,
                 random_state=None, verbose=0):
        self.encoder = encoder
        self.n_blocks = n_blocks
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.time_crop = time_crop
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.callbacks = callbacks
        self.module_params = module_params
        self.embed_batch_size = embed_batch_size
        self.device = device
        self.checkpoint_dir = checkpoint_dir
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
        y = check_fit_labels(X, y, estimator=self)
        if self.encoder is None:
            raise ValueError(
                "FineTuneClassifier needs an encoder: pass a fitted SupConPretrainer "
                "(ideally wrapped in sklearn.frozen.FrozenEstimator)."
            )
        return self._fit_network(self._fit, X, y)

    def _fit(self, rng, X, y):
        self.encoder_ = _fitted_pretrainer(self.encoder, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        windows = self.encoder_.frontend_.transform(X)
        labels = codes[windows.owner].astype(np.int64)
        frozen = self.n_blocks == 0
        crop_generator = torch.Generator().manual_seed(int(rng.randint(0, 2**31 - 1)))
        batch_generator = torch.Generator().manual_seed(int(rng.randint(0, 2**31 - 1)))
        self.net_ = self._make_net(
            {**self._module_kwargs(), "generator": crop_generator},
            lr=self.lr or (0.01 if frozen else 0.001),
            max_epochs=self.max_epochs or (20 if frozen else 40),
            batch_size=self.batch_size, iterator_train__shuffle=True,
            iterator_train__generator=batch_generator,
        )
        self._train(self.net_, windows.spectrograms, labels,
                    random_streams={"time_crop": crop_generator, "batches": batch_generator},
                    fingerprint_data=(windows.spectrograms, labels))

    def _module_factory(self):
        return finetune_network

    def _module_kwargs(self):
        frontend = self.encoder_.frontend_
        return dict(encoder=self.encoder_.net_.module_.encoder,
                    window_shape=(frontend.n_mels, frontend.window_frames),
                    n_classes=len(self.classes_), n_blocks=self.n_blocks,
                    time_crop=self.time_crop, generator=None)

    def _criterion(self):
        return torch.nn.CrossEntropyLoss

    def predict_proba(self, X):
        """Class probabilities, the mean over each clip's windows.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
        """
        X = validate_audio_after_fit(self, X)
        windows = self.encoder_.frontend_.transform(X)
        proba = self._embed_batches(inference_module(self.net_.module_), windows.spectrograms,
                                    lambda fast, batch: torch.softmax(fast(batch), dim=1))
        return combine_by_clip(proba, windows.owner, windows.n_clips)

    _expected_failed_checks = {
        **CLASSIFIER_EXPECTED_FAILED_CHECKS,
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


def finetune_network(*, encoder, window_shape, n_classes, n_blocks, time_crop, generator):
    """A copy of the pre-trained ``encoder`` with a linear head; ``time_crop`` (a
    fraction range or None) augments the training windows."""
    encoder = copy.deepcopy(encoder).to("cpu")
    augment = None if time_crop is None else RandomTimeCrop(*time_crop, generator=generator)
    return FineTuneNet(encoder, output_dim(encoder, (1,) + tuple(window_shape)), n_classes,
                       n_blocks=n_blocks, augment=augment)


def _fitted_pretrainer(encoder, X, y):
    """The fitted SupConPretrainer behind ``encoder`` (fit on the support set if needed)."""
    inner = getattr(encoder, "estimator", encoder)  # FrozenEstimator wraps .estimator
    if not isinstance(inner, SupConPretrainer):
        raise TypeError(
            f"encoder must be a SupConPretrainer (or a FrozenEstimator of one), got "
            f"{type(inner).__name__}; for any other transformer use PrototypeClassifier "
            "or make_pipeline(FrozenEstimator(encoder), LogisticRegression())."
        )
    if fitted_or_none(inner) is not None:
        return inner
    # Supervised pre-training needs two clips per class; otherwise self-supervised.
    counts = np.unique(y, return_counts=True)[1]
    return clone(inner).fit(X, y if counts.min() >= 2 else None)
