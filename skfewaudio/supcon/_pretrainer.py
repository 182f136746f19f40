"""Supervised / self-supervised contrastive pre-training of an audio encoder
(Moummad et al., DCASE 2023; the angular contrastive loss of Wang et al., ICASSP 2023)."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from skorch import NeuralNet
from skorch.callbacks import LRScheduler

from .._callbacks import EpisodicAccuracy, ResumableEarlyStopping
from .._network import NETWORK_PARAMETER_CONSTRAINTS, NetworkEstimator
from .._torch_utils import output_dim
from .._validation import (
    TRANSFORMER_EXPECTED_FAILED_CHECKS,
    check_audio,
    check_fit_labels,
    check_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .._windows import FRONT_END_CONSTRAINTS, combine_by_clip, front_end_of
from ..nn.augment import contrastive_views
from ..nn.encoders import Conv4Encoder
from ..nn.heads import ContrastiveModel, ProjectionHead
from ..nn.inference import inference_module
from ..nn.losses import AngularContrastiveLoss
from ..nn.resnet import resnet_encoder, small_encoder
from ._batches import BatchIterator

_N_VIEWS = 2


def _conv4_encoder():
    """MetaAudio's conv-4 (64 maps) with global average pooling, so crops of any
    length embed alike; first convolution strided 2 to quarter its CPU cost."""
    return Conv4Encoder(n_maps=64, pool="mean", in_stride=2)


_ENCODERS = {"resnet": resnet_encoder, "small": small_encoder, "conv4": _conv4_encoder}


class _ContrastiveNet(NeuralNet):
    """skorch net whose training step makes two augmented views of each batch and
    scores their projections with a contrastive loss (or, for cross-entropy
    pre-training, their class logits)."""

    def __init__(self, *args, views=None, supervised=True, precision="float32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision
        # A list, not a bare module: skorch only lets initialize_* set torch modules.
        self.views = [views]
        self.supervised = supervised

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        Xi = Xi.to(self.device)
        views = self.views[0].train()
        device_type = torch.device(self.device).type
        with torch.autocast(device_type, dtype=torch.bfloat16,
                            enabled=self.precision == "bfloat16"):
            # Rows i and n + i are the two views of window i.
            projections = self.module_(views(Xi)).float()
        identity = yi if self.supervised else torch.arange(len(Xi))
        labels = identity.repeat(_N_VIEWS).to(self.device)
        loss = self.criterion_(projections, labels)
        loss.backward()
        return {"loss": loss, "y_pred": projections}


class SupConPretrainer(TransformerMixin, NetworkEstimator):
    """Contrastive pre-training of an audio encoder; ``transform`` embeds clips.

    A user with a labelled archive of base classes learns the encoder once with
    ``fit(X, y)`` (supervised contrastive, Moummad et al., DCASE 2023) or, without labels, with
    ``fit(X)`` (self-supervised: the two views of a clip are its only positives).
    New classes are then solved with a cheap head on :meth:`transform`'s embeddings:
    ``PrototypeClassifier(encoder=FrozenEstimator(pre))``,
    ``make_pipeline(FrozenEstimator(pre), LogisticRegression())`` or
    :class:`FineTuneClassifier`.

    Clips are z-normalised, cut into non-overlapping log-mel windows of
    ``window_seconds`` (a shorter clip is one zero-padded window) and normalised
    with statistics of the training windows. Log-mels are computed once per fit;
    each batch then gets two fresh augmented views (Moummad et al.'s chain) on the
    fly.
    A clip's embedding is the mean of its windows' encoder outputs; the projector is
    used for training only.

    Parameters
    ----------
    encoder : {"resnet", "small", "conv4"} or torch.nn.Module, default="resnet"
        ``"resnet"`` is Moummad et al.'s 3-block ResNet (64/128/256 maps, 2048-d),
        heavy on a CPU; ``"small"`` is the same design with 16/32/64 maps and one
        convolution per block (512-d), for CPU training; ``"conv4"`` is MetaAudio's
        conv-4 with 64 maps, global average pooling (64-d) and a first convolution
        of stride 2. A module maps
        ``(batch, 1, n_mels, n_frames)`` to ``(batch, dim)`` (copied, never
        modified); fine-tuning some of its blocks needs a ``blocks`` ModuleList.
    loss : {"supcon", "angular", "cross_entropy"}, default="supcon"
        ``"supcon"``: supervised contrastive loss, NT-Xent when ``y`` is None.
        ``"angular"``: the angular contrastive loss (Wang et al., ICASSP 2023),
        ``alpha * contrastive + (1 - alpha) * angular margin``.
        ``"cross_entropy"``: a linear classifier over the training classes replaces
        the projector and both augmented views are trained to predict the clip's
        class (supervised pre-training, the SimpleShot route of Wang et al., 2019);
        it needs ``y``, and the projection and temperature settings are unused.
    temperature : float, default=0.06
    alpha : float in [0, 1] or None, default=None
        Weight of the contrastive part of ``loss="angular"``; None is 0.7 supervised
        and 0.3 self-supervised, as in the paper.
    margin : float, default=0.5
        Angular margin in radians (``loss="angular"``).
    projection_dim : int, default=512
    projection_hidden : int or None, default=None
        Hidden width of the projector; None uses the encoder's embedding size
        (2048 -> 2048 -> 512 for the ResNet, as Moummad et al.).
    mix : (float, float) or None, default=(5.0, 2.0)
        Beta parameters of the weight of mixing one view with another clip of the
        batch; None switches mixing off.
    max_freq_shift : int, default=10
        Largest upward frequency shift in mel bins (0 = off).
    time_crop : (float, float) or None, default=(0.6, 1.0)
        Range of the fraction of frames kept by the random crop, resized back.
    gain : (float, float) or None, default=(0.75, 1.0)
        Range of the power gain multiplying the spectrogram.
    noise_std : float, default=0.1
        Largest standard deviation of the additive Gaussian noise (0 = off).
    spec_augment : bool, default=False
        Also apply SpecAugment time and frequency masks to both views.
    max_epochs : int, default=50
    batch_size : int, default=128
        Training windows per batch (each gives two views).
    clips_per_class : int, default=4
        Supervised batches hold ``batch_size // clips_per_class`` classes with about
        ``clips_per_class`` windows each.
    lr, momentum, weight_decay : float, default=0.01, 0.9, 1e-4
        Settings of the default optimizer, SGD (Moummad et al.); the learning rate
        follows a cosine decay over ``max_epochs``.
    sample_rate : int, default=16000
    n_mels, n_fft, hop_length : int, default=128, 1024, 512
        Log-mel front-end (MetaAudio's settings).
    window_seconds : float, default=5.0
        Window length: 5 s suits ESC-50-like clips (one window per clip). Use about
        the length of the sounds of interest; longer clips give several windows.
    compression : {"log", "pcen"}, default="log"
        Decibels, or per-channel energy normalisation of the mel magnitudes (see
        :class:`~skfewaudio.ProtoContrastiveClassifier`).
    pcen_time_constant : float, default=0.4
        Seconds over which PCEN smooths each band's level (``compression="pcen"``).
    frequency_scale : {"mel", "linear"}, default="mel"
        Mel bands, or bands evenly spaced in Hz (see
        :class:`~skfewaudio.ProtoContrastiveClassifier`).
    validation_episodes : int, default=200
        Episodes of the per-epoch few-shot validation (see ``fit``).
    validation_shot : int, default=1
        The validation accuracy (1- or 5-shot) whose best epoch is kept.
    patience : int or None, default=None
        With validation: stop after this many epochs without improvement.
    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs the training forward pass under ``torch.autocast``
        (mixed precision; the loss stays float32). On CPUs with AVX512-BF16 it made a
        training step of the small encoder about twice as fast in our measurement;
        ``transform`` always runs in float32.
    optimizer : torch optimizer class or None, default=None
        None is SGD with ``momentum`` and ``weight_decay``.
    optimizer_params : dict or None, default=None
        Keyword arguments of the optimizer; with the default optimizer they update
        ``momentum`` and ``weight_decay``.
    callbacks : list of skorch callbacks or None, default=None
        Added after the estimator's own (LR schedule, validation, early stopping).
    module_params : dict or None, default=None
        Keyword arguments of :func:`~skfewaudio.supcon._pretrainer.contrastive_network`,
        updating those derived from the parameters.
    embed_batch_size : int, default=128
        Windows per forward pass in ``transform``.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
    checkpoint_dir : str, path-like or None, default=None
        Write a checkpoint there after every epoch; a later ``fit`` with the same
        parameters and data resumes from it (see ``docs/supcon.md``).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batches and augmentations.
    verbose : int, default=0
        1 prints one line per epoch (loss, validation accuracy, seconds).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network (``net_.module_.encoder`` and ``.projector``) and its
        ``history`` (``train_loss``, ``dur`` seconds and, with validation data,
        ``valid_acc_1shot`` / ``valid_acc_5shot`` per epoch).
    frontend_ : LogMelWindows
        Front-end settings with the training normalisation (``mean_``, ``std_``).
    embedding_dim_ : int
        Size of the encoder output (the embedding ``transform`` returns).
    supervised_ : bool
        Whether ``fit`` had labels.
    n_classes_ : int or None
        Training classes of the cross-entropy classifier (``loss="cross_entropy"``),
        else None.
    best_epoch_ : int or None
        Epoch whose weights were kept (validation), else None.
    fit_seconds_ : float
        Wall time of ``fit``, front-end included.
    n_features_in_ : int
        Samples per clip seen in fit (2-D input only; any length is accepted later).

    Examples
    --------
    >>> from skfewaudio import make_sounds
    >>> from skfewaudio.supcon import SupConPretrainer
    >>> X, y = make_sounds(n_classes=4, n_per_class=6, duration=0.5, random_state=0)
    >>> pre = SupConPretrainer(encoder="small", window_seconds=0.5, max_epochs=1,
    ...                        batch_size=12, random_state=0).fit(X, y)
    >>> pre.transform(X).shape
    (24, 512)
    """

    _parameter_constraints = {
        **NETWORK_PARAMETER_CONSTRAINTS,
        "encoder": [StrOptions(set(_ENCODERS)), HasMethods(["forward"])],
        "loss": [StrOptions({"supcon", "angular", "cross_entropy"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, 1, closed="both"), None],
        "margin": [Interval(Real, 0, None, closed="left")],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "projection_hidden": [Interval(Integral, 1, None, closed="left"), None],
        "mix": [tuple, list, None],
        "max_freq_shift": [Interval(Integral, 0, None, closed="left")],
        "time_crop": [tuple, list, None],
        "gain": [tuple, list, None],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "spec_augment": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "clips_per_class": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        **FRONT_END_CONSTRAINTS,
        "validation_episodes": [Interval(Integral, 1, None, closed="left")],
        "validation_shot": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "precision": [StrOptions({"float32", "bfloat16"})],
    }

    def __init__(self, *, encoder="resnet", loss="supcon", temperature=0.06, alpha=None,
                 margin=0.5, projection_dim=512, projection_hidden=None, mix=(5.0, 2.0),
                 max_freq_shift=10, time_crop=(0.6, 1.0), gain=(0.75, 1.0), noise_std=0.1,
                 spec_augment=False, max_epochs=50, batch_size=128, clips_per_class=4,
                 lr=0.01, momentum=0.9, weight_decay=1e-4, sample_rate=16000, n_mels=128,
                 n_fft=1024, hop_length=512, window_seconds=5.0, compression="log",
                 pcen_time_constant=0.4, frequency_scale="mel", validation_episodes=200,
                 validation_shot=1, patience=None, precision="float32", optimizer=None,
                 optimizer_params=None, callbacks=None, module_params=None,
                 embed_batch_size=128, device="cpu", checkpoint_dir=None, random_state=None,
                 verbose=0):
        self.encoder = encoder
        self.loss = loss
        self.temperature = temperature
        self.alpha = alpha
        self.margin = margin
        self.projection_dim = projection_dim
        self.projection_hidden = projection_hidden
        self.mix = mix
        self.max_freq_shift = max_freq_shift
        self.time_crop = time_crop
        self.gain = gain
        self.noise_std = noise_std
        self.spec_augment = spec_augment
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.clips_per_class = clips_per_class
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.window_seconds = window_seconds
        self.compression = compression
        self.pcen_time_constant = pcen_time_constant
        self.frequency_scale = frequency_scale
        self.validation_episodes = validation_episodes
        self.validation_shot = validation_shot
        self.patience = patience
        self.precision = precision
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
        """Tiny, fast settings for the test-suite. One window per forward pass: oneDNN
        picks convolution kernels by batch size, so otherwise a clip's embedding can
        differ at the 1e-7 level with the clips embedded beside it, which
        scikit-learn's subset-invariance check does not tolerate."""
        return {
            "encoder": "small", "max_epochs": 1, "batch_size": 16, "n_mels": 16,
            "n_fft": 128, "hop_length": 64, "window_seconds": 0.05,
            "projection_dim": 8, "projection_hidden": 16, "embed_batch_size": 1,
            "random_state": 0,
        }

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, X_val=None, y_val=None):
        """Pre-train the encoder.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Training clips of the base classes (or log-mel spectrograms of shape
            (n_clips, n_mels, n_frames)).
        y : array-like of shape (n_clips,) or None
            Their classes (at least two, each with at least two clips) for supervised
            pre-training; None for self-supervised pre-training.
        X_val, y_val : clips and labels of held-out classes, optional
            If given, 5-way 1-shot and 5-shot accuracy (nearest cosine prototype,
            ``validation_episodes`` episodes) is recorded after each epoch in
            ``net_.history`` and the weights of the best epoch (by
            ``validation_shot``) are kept.

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_fit_audio(self, X)
        if y is not None:
            y = _check_pretraining_labels(X, y)
        elif self.loss == "cross_entropy":
            raise ValueError(
                "loss='cross_entropy' learns to classify the training clips and needs "
                "their labels: call fit(X, y), or pick loss='supcon' for "
                "self-supervised pre-training with fit(X)."
            )
        if self.batch_size < _N_VIEWS:
            raise ValueError(
                f"batch_size={self.batch_size} is smaller than the number of views per "
                f"clip ({_N_VIEWS}): a contrastive batch needs at least {_N_VIEWS} windows "
                "so that every anchor has a negative."
            )
        validation = None
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ValueError("give both X_val and y_val, or neither.")
            X_val = check_audio(X_val)
            validation = (X_val, check_labels(y_val, len(X_val), estimator=self))
        return self._fit_network(self._fit, X, y, validation)

    def _fit(self, rng, X, y, validation):
        self.supervised_ = y is not None
        self.n_classes_ = len(np.unique(y)) if self.loss == "cross_entropy" else None
        self.frontend_ = front_end_of(self, self._device())
        windows = self.frontend_.fit(X)
        specs = windows.spectrograms
        if self.supervised_:
            labels = np.unique(y, return_inverse=True)[1][windows.owner].astype(np.int64)
        else:
            labels = np.arange(len(specs), dtype=np.int64)
        generator = torch.Generator().manual_seed(int(rng.randint(0, 2**31 - 1)))
        callbacks = [("lr_cosine", LRScheduler(policy="CosineAnnealingLR",
                                               T_max=self.max_epochs))]
        if validation is not None:
            callbacks += self._validation_callbacks(validation, int(rng.randint(0, 2**31 - 1)))
        self.net_ = self._make_net(
            self._module_kwargs(), callbacks=callbacks, lr=self.lr, max_epochs=self.max_epochs,
            batch_size=self.batch_size, iterator_train=BatchIterator,
            iterator_train__supervised=self.supervised_,
            iterator_train__clips_per_class=self.clips_per_class,
            iterator_train__random_state=rng,
            views=self._views(generator), supervised=self.supervised_,
            precision=self.precision,
        )
        self._train(self.net_, specs, labels,
                    random_streams={"batches": rng, "views": generator},
                    fingerprint_data=(specs, labels))
        self.best_epoch_ = self._best_epoch(f"valid_acc_{self.validation_shot}shot")
        # The head (projector or classifier) was sized by the encoder's output.
        self.embedding_dim_ = self.net_.module_.projector.in_features
        # The views' torch.Generator pickles differently each time (unstable joblib.hash).
        self.net_.views = [None]

    def _views(self, generator):
        return contrastive_views(
            mix=None if self.mix is None else tuple(self.mix),
            max_freq_shift=self.max_freq_shift,
            time_crop=None if self.time_crop is None else tuple(self.time_crop),
            gain=None if self.gain is None else tuple(self.gain),
            noise_std=self.noise_std, spec_augment=self.spec_augment, generator=generator,
        )

    def _validation_callbacks(self, validation, seed):
        windows = self.frontend_.transform(validation[0])
        shots = tuple(sorted({1, 5, self.validation_shot}))
        return [
            ("episodic_validation", EpisodicAccuracy(
                lambda module: self._embed_clips(windows, module), validation[1],
                n_shots=shots, n_episodes=self.validation_episodes, random_state=seed,
                metric="cosine")),
            ("early_stopping", ResumableEarlyStopping(
                monitor=f"valid_acc_{self.validation_shot}shot", lower_is_better=False,
                threshold=0.0, patience=self.patience or self.max_epochs + 1,
                load_best=True)),
        ]

    _net_class = _ContrastiveNet

    def _module_factory(self):
        return contrastive_network

    def _module_kwargs(self):
        return dict(encoder=self.encoder,
                    window_shape=(self.n_mels, self.frontend_.window_frames),
                    projection_hidden=self.projection_hidden,
                    projection_dim=self.projection_dim,
                    n_classes=getattr(self, "n_classes_", None))

    def _default_optimizer(self):
        return torch.optim.SGD, {"momentum": self.momentum, "weight_decay": self.weight_decay}

    def _criterion(self):
        if self.loss == "cross_entropy":
            return torch.nn.CrossEntropyLoss()
        supervised = getattr(self, "supervised_", True)
        contrastive = "supcon" if supervised else "ntxent"
        if self.loss == "supcon":
            alpha = 1.0
        else:
            alpha = self.alpha if self.alpha is not None else (0.7 if supervised else 0.3)
        return AngularContrastiveLoss(alpha=alpha, margin=self.margin,
                                      temperature=self.temperature, contrastive=contrastive)

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Embed clips with the pre-trained encoder (the projector is dropped).

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Clips of any length (or spectrograms (n_clips, n_mels, n_frames)).

        Returns
        -------
        embeddings : ndarray of shape (n_clips, embedding_dim_)
            float32, the mean of the clip's window embeddings.
        """
        X = validate_audio_after_fit(self, X)
        return self._embed_clips(self.frontend_.transform(X))

    def _embed_clips(self, windows, model=None):
        """Mean encoder output of each clip's windows, in eval mode."""
        model = self.net_.module_ if model is None else model
        embedded = self._embed_batches(inference_module(model), windows.spectrograms,
                                       lambda fast, batch: fast.embed(batch))
        return combine_by_clip(embedded, windows.owner, windows.n_clips)

    _expected_failed_checks = TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _check_pretraining_labels(X, y):
    """Labels for supervised pre-training: >= 2 classes, each with >= 2 clips."""
    y = check_fit_labels(X, y, min_classes=1)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes[0]!r}): supervised contrastive pre-training "
            "needs at least two classes to contrast. For self-supervised pre-training "
            "call fit(X) without y."
        )
    lonely = classes[counts < 2]
    if len(lonely):
        raise ValueError(
            f"class(es) {lonely[:5].tolist()} have a single clip: supervised contrastive "
            "pre-training needs at least 2 clips per class so that each anchor has a "
            "positive from another clip. Drop those clips, or call fit(X) without y for "
            "self-supervised pre-training."
        )
    return y


def contrastive_network(*, encoder, window_shape, projection_hidden, projection_dim,
                        n_classes=None):
    """Encoder (a name, or a module that is copied) + projector sized by the
    encoder's output for one window of ``window_shape`` (n_mels, n_frames); with
    ``n_classes``, a linear classifier instead of the projector (cross-entropy)."""
    encoder = _ENCODERS[encoder]() if isinstance(encoder, str) else copy.deepcopy(encoder)
    dim = output_dim(encoder, (1,) + tuple(window_shape))
    head = (torch.nn.Linear(dim, n_classes) if n_classes
            else ProjectionHead(dim, projection_hidden or dim, projection_dim))
    return ContrastiveModel(encoder, head)
