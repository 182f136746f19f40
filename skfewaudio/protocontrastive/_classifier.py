"""ProtoContrastiveClassifier: prototypical meta-training with a contrastive term."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import LRScheduler
from torch import nn

from .._callbacks import EpisodicAccuracy, ResumableEarlyStopping
from .._network import NETWORK_PARAMETER_CONSTRAINTS, NetworkClassifierMixin, NetworkEstimator
from .._prototypes import METRICS, clip_distances, softmax_neg
from .._validation import (
    CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS,
    check_audio,
    check_fit_labels,
    check_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .._windows import FRONT_END_CONSTRAINTS, combine_by_clip, front_end_of
from ..nn.encoders import CONV4_POOLS, Conv4Encoder
from ..nn.inference import inference_module
from ..nn.losses import PrototypicalLoss, ProtoContrastiveLoss
from ..nn.resnet import RESNET_POOLS, ResNetEncoder
from ._training import EpisodeLoader, EpisodeStream, EpisodicNet, protocontrastive_network


class ProtoContrastiveClassifier(NetworkClassifierMixin, TransformerMixin, NetworkEstimator):
    """Prototypical network meta-trained with a supervised-contrastive or angular term.

    Method of "Prototypical contrastive learning for few-shot audio classification"
    (MLSP 2025): episodic N-way K-shot training of an encoder on base classes, where
    each clip is seen through ``n_views`` SpecAugment views whose embeddings are fused
    by one self-attention layer, and the loss is the prototypical cross-entropy plus
    ``contrastive_weight`` times a contrastive term (``"supcon"`` or ``"angular"``) on
    a projection head of the view embeddings.

    ``fit(X, y)`` meta-trains on the base classes in ``y``; afterwards the estimator
    classifies among those classes by nearest prototype (mean training embedding of
    each class), and ``transform`` gives the fused embedding. To solve new few-shot
    problems with the meta-trained network, use it as a frozen encoder::

        meta = ProtoContrastiveClassifier(...).fit(X_base, y_base)
        clf = PrototypeClassifier(encoder=FrozenEstimator(meta), metric=meta.metric)
        clf.fit(support_X, support_y).predict(query_X)

    and ``evaluate_episodes(meta, X_novel, y_novel, ...)`` embeds every clip once.

    Clips are cut into ``window_seconds`` log-mel windows (MetaAudio: 5 s, shorter
    clips zero-padded); a clip's embedding is the mean of its windows' embeddings
    and its class probabilities the mean of its windows' probabilities (a soft vote).

    At predict/transform time no view is masked: every view is the spectrogram
    itself, for which the fusion is the identity, so the embedding is deterministic
    and computed with one encoder pass.

    Parameters
    ----------
    encoder : {"conv4", "crnn", "resnet"} or torch.nn.Module, default="conv4"
        ``conv4``: MetaAudio's 4 conv blocks of ``n_maps`` maps, flattened;
        ``crnn``: MetaAudio's hybrid (conv blocks + LSTM); ``resnet``: a small ResNet
        (3 residual blocks, ``n_maps / 2`` to ``2 n_maps`` maps, max over time). A module receives
        ``(batch, 1, n_mels, n_frames)`` and returns ``(batch, dim)``; it is copied, not
        modified.
    n_maps : int, default=32
        Feature maps of the built-in encoders (MetaAudio: 64).
    in_stride : int, default=2
        Stride of the first convolution of the built-in encoders. ``2`` makes the
        conv-4 about five times cheaper on CPU than ``1`` (the later blocks see a
        quarter of the positions) and its flattened embedding four times smaller.
    metric : {"euclidean", "cosine"}, default="cosine"
        Prototype distance in training, prediction and episodic evaluation:
        ``cosine`` (logits ``scale * cos`` with a learned scale) or ``euclidean``
        (minus the squared distance, Snell et al.). On ESC-50 the flattened conv-4
        trained much better with ``cosine``.
    n_way, n_shot, n_query : int, default=10, 1, 2
        Training episodes: classes, support and query clips per class. More ways than
        at test time is known to help prototypical networks. One episode is one
        training batch.
    episodes_per_epoch : int, default=20
    max_epochs : int, default=160
        The defaults are the recipe chosen by class-disjoint cross-validation on the
        ESC-50 train classes (``docs/protocontrastive.md``): about 14 minutes of
        training on 2 CPU cores (160 epochs beat 80 by 1.4 / 1.6 points, 1- / 5-shot,
        in the committed two-seed ensemble).
    lr : float, default=1e-3
        Learning rate (cosine-annealed over ``max_epochs``).
    weight_decay : float, default=0.0
        Weight decay of the default optimizer (Adam).
    n_views : int, default=2
        SpecAugment views per clip, fused by self-attention; ``1`` disables fusion.
    augment : bool, default=True
        Mask the training views with SpecAugment (``False``: unmasked views).
    freq_mask_param, time_mask_param : int, default=16, 20
        Widest SpecAugment frequency (mel bins) and time (frames) mask; two of each.
    contrastive : {"supcon", "angular"} or None, default="supcon"
        Contrastive term on the projection head; ``None`` is a plain prototypical
        network. The paper's choice is ``"angular"``; SupCon was ahead of it in our
        ESC-50 ablation (``docs/protocontrastive.md``).
    contrastive_weight : float, default=0.5
    temperature : float, default=0.1
        SupCon temperature.
    angular_alpha : float, default=40.0
        ``AngularLoss`` angle (degrees).
    miner_angle : float, default=20.0
        ``AngularMiner`` angle (degrees).
    projection_dim : int, default=128
    sample_rate, n_mels, n_fft, hop_length : int, default=16000, 128, 1024, 512
        Log-mel front-end (MetaAudio's). Normalisation statistics are learned from the
        training clips only.
    window_seconds : float, default=5.0
    compression : {"log", "pcen"}, default="log"
        How mel energies are compressed: decibels, or per-channel energy
        normalisation (PCEN, librosa's defaults), which divides each band by its own
        smoothed recent level and so suppresses stationary background (wind, hum,
        rain) while keeping onsets. On ESC-50 a PCEN network alone is about 5 points
        behind one on decibels, but beside log-mel networks in an ensemble it adds
        more than another log-mel network (``docs/protocontrastive.md``).
    pcen_time_constant : float, default=0.4
        Seconds over which PCEN smooths each band's level (librosa's default); shorter
        keeps little but onsets. Used only with ``compression="pcen"``.
    frequency_scale : {"mel", "linear"}, default="mel"
        Where the ``n_mels`` triangular bands sit: on the mel scale, or evenly in Hz
        (62 Hz apart at the defaults), which resolves frequencies above 2.5 kHz more
        finely than mel bands (3 times at 8 kHz) and those below 1 kHz 2.7 times more
        coarsely. On ESC-50 a ResNet on linear bands is 2 points behind mel bands alone
        and adds nothing beside mel networks in an ensemble
        (``docs/protocontrastive.md``).
    test_time_shifts : tuple of int, default=()
        Test-time augmentation: each window is also embedded circularly rolled by
        each of these numbers of frames (hops of ``hop_length`` samples; ``20`` is
        0.64 s at the defaults), and its embedding is the mean over the window and
        its rolls. Applies wherever the network embeds (``transform``,
        ``predict_proba``, the base prototypes, validation) and costs one forward
        pass per roll; it can be changed after ``fit`` with ``set_params``, and
        ``prototypes_`` then still hold the embeddings of the fit.
    test_time_pool : {"auto", "flatten", "mean", "meanmax", "flatten+stats", \
"flatten+texture", "max", "max+texture"} or None, default="auto"
        How the built-in encoder turns its last feature map into the embedding
        (its ``pool``, see :class:`~skfewaudio.nn.Conv4Encoder` and, for
        ``encoder="resnet"``, :class:`~skfewaudio.nn.ResNetEncoder`) when embedding,
        in place of the pool it was trained with (``None``). Pooling has no weights,
        so a network trained with one pool embeds with another. ``"auto"``:
        ``"max+texture"`` for the ResNet trained with ``"max"`` (where its last map
        has 16 positions or more; its max-pooled embedding otherwise), and
        ``"flatten+texture"`` for the conv-4 trained with ``"flatten"`` (the default),
        which adds, to the trained flattened map, the mean and spread over time of
        each map and frequency row and the correlations between maps (+1.9-2.3 /
        +2.3-2.7 points for one encoder alone, +1.3 / +1.0 in the committed ESC-50
        recipe, in class-disjoint selection: ``docs/protocontrastive.md``); but
        ``"flatten+stats"``, without the correlations, where the last map has fewer
        than 16 positions (mel rows x time steps; 20 for a 5-second window at the
        defaults), too few to estimate them; the trained pool for other encoders.
        The training steps are unchanged; it applies wherever the network embeds
        (``transform``, ``predict_proba``, the base prototypes, and validation, so
        the epoch it keeps). Settable after ``fit``; when that changes the
        embedding's size, ``transform`` works and ``predict`` asks for a refit
        (``prototypes_`` hold the fit's embeddings). Files and pickles written
        before the parameter existed load with ``None``.
    validation_episodes : int, default=500
        Validation episodes (5-way, ``validation_shot``-shot, one query per class)
        when ``fit`` is given ``X_val, y_val``.
    validation_shot : int, default=1
    patience : int or None, default=None
        With validation: stop after this many epochs without improvement (skorch's
        ``EarlyStopping``). With or without it, the best epoch's weights are kept.
    optimizer : torch optimizer class or None, default=None
        None is Adam.
    optimizer_params : dict or None, default=None
        Keyword arguments of the optimizer (e.g. ``{"betas": (0.9, 0.99)}``); with
        the default optimizer they update ``weight_decay``.
    callbacks : list of skorch callbacks or None, default=None
        Added after the estimator's own (LR schedule, validation, early stopping).
    module_params : dict or None, default=None
        Keyword arguments of
        :func:`~skfewaudio.protocontrastive._training.protocontrastive_network`
        (e.g. ``{"key_dim": 32}``, or ``{"encoder_params": {"pool": "meanmax"}}`` for
        a time-pooled conv-4), updating those derived from the parameters.
    embed_batch_size : int, default=128
        Windows per forward pass when embedding.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
    checkpoint_dir : str, path-like or None, default=None
        Write a checkpoint there after every epoch; a later ``fit`` with the same
        parameters and data resumes from it to the same result as an uninterrupted
        run (see ``docs/protocontrastive.md``).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, episodes and augmentation: same seed, same model.
    verbose : int, default=0
        ``1`` prints one line per epoch (loss, validation accuracy, time).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Base classes.
    prototypes_ : ndarray of shape (n_classes, n_features)
        Mean training embedding of each base class.
    net_ : skorch.NeuralNet
        The trained network (``net_.module_``) and its ``history``.
    frontend_ : LogMelWindows
        Fitted log-mel front-end (normalisation statistics).
    best_epoch_ : int or None
        Epoch whose weights were kept (validation), else None.
    fit_seconds_ : float
        Wall time of ``fit``, front-end included.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skfewaudio import PrototypeClassifier, make_sounds
    >>> from skfewaudio.protocontrastive import ProtoContrastiveClassifier
    >>> X, y = make_sounds(n_classes=6, n_per_class=6, duration=0.5, random_state=0)
    >>> base = np.isin(y, np.unique(y)[:3])
    >>> meta = ProtoContrastiveClassifier(
    ...     n_maps=8, n_mels=32, n_fft=256, hop_length=128, window_seconds=0.5,
    ...     n_way=3, n_shot=2, n_query=2, episodes_per_epoch=4, max_epochs=1,
    ...     random_state=0).fit(X[base], y[base])
    >>> clf = PrototypeClassifier(encoder=FrozenEstimator(meta), metric=meta.metric)
    >>> clf.fit(X[~base][::2], y[~base][::2]).predict(X[~base][1::2]).shape
    (9,)
    """

    _parameter_constraints = {
        **NETWORK_PARAMETER_CONSTRAINTS,
        "encoder": [StrOptions({"conv4", "crnn", "resnet"}), nn.Module],
        "n_maps": [Interval(Integral, 1, None, closed="left")],
        "in_stride": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions(set(METRICS))],
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "n_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
        "episodes_per_epoch": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_views": [Interval(Integral, 1, None, closed="left")],
        "augment": ["boolean"],
        "freq_mask_param": [Interval(Integral, 0, None, closed="left")],
        "time_mask_param": [Interval(Integral, 0, None, closed="left")],
        "contrastive": [StrOptions({"supcon", "angular"}), None],
        "contrastive_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "angular_alpha": [Interval(Real, 0, 90, closed="neither")],
        "miner_angle": [Interval(Real, 0, 90, closed="left")],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        **FRONT_END_CONSTRAINTS,
        "test_time_shifts": [tuple, list],
        "test_time_pool": [StrOptions({"auto", *CONV4_POOLS, *RESNET_POOLS}), None],
        "validation_episodes": [Interval(Integral, 1, None, closed="left")],
        "validation_shot": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, encoder="conv4", *, n_maps=32, in_stride=2, metric="cosine", n_way=10,
                 n_shot=1, n_query=2, episodes_per_epoch=20, max_epochs=160, lr=1e-3,
                 weight_decay=0.0, n_views=2, augment=True, freq_mask_param=16,
                 time_mask_param=20, contrastive="supcon", contrastive_weight=0.5,
                 temperature=0.1, angular_alpha=40.0, miner_angle=20.0, projection_dim=128,
                 sample_rate=16000, n_mels=128, n_fft=1024, hop_length=512,
                 window_seconds=5.0, compression="log", pcen_time_constant=0.4,
                 frequency_scale="mel", test_time_shifts=(), test_time_pool="auto",
                 validation_episodes=500,
                 validation_shot=1, patience=None, optimizer=None, optimizer_params=None,
                 callbacks=None, module_params=None, embed_batch_size=128, device="cpu",
                 checkpoint_dir=None, random_state=None, verbose=0):
        self.encoder = encoder
        self.n_maps = n_maps
        self.in_stride = in_stride
        self.metric = metric
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.episodes_per_epoch = episodes_per_epoch
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_views = n_views
        self.augment = augment
        self.freq_mask_param = freq_mask_param
        self.time_mask_param = time_mask_param
        self.contrastive = contrastive
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.angular_alpha = angular_alpha
        self.miner_angle = miner_angle
        self.projection_dim = projection_dim
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.window_seconds = window_seconds
        self.compression = compression
        self.pcen_time_constant = pcen_time_constant
        self.frequency_scale = frequency_scale
        self.test_time_shifts = test_time_shifts
        self.test_time_pool = test_time_pool
        self.validation_episodes = validation_episodes
        self.validation_shot = validation_shot
        self.patience = patience
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.callbacks = callbacks
        self.module_params = module_params
        self.embed_batch_size = embed_batch_size
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, *, X_val=None, y_val=None):
        """Meta-train on the base classes of ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Base-class clips (or log-mel spectrograms (n_clips, n_mels, n_frames)).
        y : array-like of shape (n_clips,)
            Their classes: at least ``n_way``, each with at least ``n_shot + n_query``
            clips.
        X_val, y_val : optional
            Clips of held-out classes (disjoint from ``y``'s): after every epoch the
            5-way ``validation_shot``-shot episodic accuracy on them is recorded in
            ``net_.history`` and the best epoch's weights are kept.

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_fit_audio(self, X)
        y = check_fit_labels(X, y, estimator=self)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self._check_episode_size(codes)
        validation = None
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ValueError("give both X_val and y_val, or neither.")
            X_val = check_audio(X_val)
            validation = (X_val, check_labels(y_val, len(X_val), estimator=self))
        return self._fit_network(self._fit, X, codes, validation)

    def _check_episode_size(self, codes):
        counts = np.bincount(codes, minlength=len(self.classes_))
        if self.n_way > len(self.classes_):
            raise ValueError(
                f"n_way={self.n_way} but y has only {len(self.classes_)} base classes; "
                "lower n_way or give more classes."
            )
        short = counts < self.n_shot + self.n_query
        if short.any():
            raise ValueError(
                f"classes {self.classes_[short].tolist()} have fewer than n_shot + n_query "
                f"= {self.n_shot + self.n_query} clips (counts {counts[short].tolist()}); "
                "lower n_shot or n_query, or drop those classes."
            )

    def _fit(self, rng, X, codes, validation):
        self.frontend_ = front_end_of(self, self._device())
        windows = self.frontend_.fit(X)  # log-mel once per fit; views are masked per batch
        callbacks = [("lr_scheduler", LRScheduler(
            torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.max_epochs))]
        if validation is not None:
            callbacks += self._validation_callbacks(validation, int(rng.randint(0, 2**31 - 1)))
        stream = EpisodeStream(
            windows.spectrograms, codes[windows.owner], n_way=self.n_way, n_shot=self.n_shot,
            n_query=self.n_query, episodes_per_epoch=self.episodes_per_epoch,
            random_state=int(rng.randint(0, 2**31 - 1)),
        )
        self.net_ = self._make_net(
            self._module_kwargs(), callbacks=callbacks,
            lr=self.lr, max_epochs=self.max_epochs, iterator_train=EpisodeLoader,
            n_support=self.n_way * self.n_shot,
        )
        self._train(self.net_, stream, random_streams={"episodes": stream},
                    fingerprint_data=(windows.spectrograms, codes[windows.owner]))
        self.best_epoch_ = self._best_epoch(f"valid_acc_{self.validation_shot}shot")
        embeddings = self._embed_clips(windows)
        self.prototypes_ = np.stack(
            [embeddings[codes == k].mean(axis=0) for k in range(len(self.classes_))]
        )

    def _validation_callbacks(self, validation, seed):
        windows = self.frontend_.transform(validation[0])
        monitor = f"valid_acc_{self.validation_shot}shot"
        return [
            ("episodic_validation", EpisodicAccuracy(
                lambda module: self._embed_clips(windows, module), validation[1],
                n_shots=(self.validation_shot,), n_episodes=self.validation_episodes,
                random_state=seed, metric=self.metric)),
            # Without patience the run goes to max_epochs and the best epoch is kept.
            ("early_stopping", ResumableEarlyStopping(
                monitor=monitor, lower_is_better=False, threshold=0.0,
                patience=self.patience or self.max_epochs + 1, load_best=True)),
        ]

    def _module_factory(self):
        return protocontrastive_network

    def _module_kwargs(self):
        window_shape = (self.n_mels, self.frontend_.window_frames)
        return dict(
            encoder=self.encoder, window_shape=window_shape, n_mels=self.n_mels,
            n_maps=self.n_maps, in_stride=self.in_stride, n_views=self.n_views,
            augment=self.augment, freq_mask_param=self.freq_mask_param,
            time_mask_param=self.time_mask_param,
            projection_dim=self.projection_dim if self.contrastive is not None else None,
        )

    def _default_optimizer(self):
        return torch.optim.Adam, {"weight_decay": self.weight_decay}

    def _criterion(self):
        return ProtoContrastiveLoss(
            PrototypicalLoss(self.metric), contrastive=self.contrastive,
            weight=self.contrastive_weight, temperature=self.temperature,
            alpha=self.angular_alpha, miner_angle=self.miner_angle,
        )

    _net_class = EpisodicNet

    def _embed_clips(self, windows, module=None):
        module = self.net_.module_ if module is None else module
        embedded = self._embed_windows(module, windows.spectrograms)
        return combine_by_clip(embedded, windows.owner, windows.n_clips)

    def _embed_windows(self, module, spectrograms):
        """Window embeddings; with ``test_time_shifts``, each is the mean of the
        embeddings of the window and of its circular rolls along time."""
        fast = self._inference_copy(module, spectrograms.shape[-2:])
        shifts = tuple(self.test_time_shifts)
        if not all(isinstance(s, Integral) for s in shifts):
            raise ValueError("test_time_shifts must be whole numbers of frames, got "
                             f"{self.test_time_shifts!r}.")
        if not shifts:
            return self._embed_batches(fast, spectrograms)

        def mean_over_rolls(fast, batch):  # the rolls of a batch in one forward pass
            views = torch.cat([batch] + [torch.roll(batch, s, dims=-1) for s in shifts])
            return fast(views).view(len(shifts) + 1, len(batch), -1).mean(dim=0)

        return self._embed_batches(fast, spectrograms, forward=mean_over_rolls)

    def _inference_copy(self, module, window_shape):
        """:func:`~skfewaudio.nn.inference_module` of ``module``, its built-in encoder
        pooling as ``test_time_pool`` (the trained module keeps its own pool)."""
        pool = self._resolved_pool(module, window_shape)
        fast = inference_module(module)
        if pool is not None:
            fast.encoder.pool = pool
        return fast

    def _resolved_pool(self, module, window_shape):
        """The encoder pool ``test_time_pool`` means for ``module`` and windows of
        ``window_shape`` ("auto" resolved), or None for the module's own."""
        encoder = getattr(module, "encoder", None)
        pools = _POOLS.get(type(encoder), ())
        pool = self.test_time_pool
        if pool == "auto":
            pool = _auto_pool(encoder, window_shape) if pools else None
        if pool is not None and pool not in pools:
            network = module if encoder is None else encoder
            raise ValueError(
                f"test_time_pool={pool!r} is not a pool of the {type(network).__name__}: "
                "it applies to the built-in conv-4 encoder (encoder='conv4'; "
                f"{', '.join(CONV4_POOLS)}) and ResNet (encoder='resnet'; "
                f"{', '.join(RESNET_POOLS)}).")
        return pool

    def __setstate__(self, state):
        # Files and pickles written before test_time_pool existed embed as they did.
        if "prototypes_" in state and "test_time_pool" not in state:
            state = {**state, "test_time_pool": None}
        super().__setstate__(state)

    # --------------------------------------------------------------- inference
    def _windows(self, X):
        X = validate_audio_after_fit(self, X)
        return self.frontend_.transform(X)

    def transform(self, X):
        """Fused embedding of each clip (mean over its windows).

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features)
        """
        return self._embed_clips(self._windows(X))

    def predict_proba(self, X):
        """Mean over each clip's windows of ``softmax(-distance to base prototypes)``.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
        """
        windows = self._windows(X)
        embedded = self._embed_windows(self.net_.module_, windows.spectrograms)
        if embedded.shape[1] != self.prototypes_.shape[1]:
            raise ValueError(
                f"The embedding has {embedded.shape[1]} features but the base prototypes "
                f"{self.prototypes_.shape[1]}: test_time_pool={self.test_time_pool!r} "
                "changed its size after fit. Refit to predict base classes; transform "
                "works as it is.")
        proba = softmax_neg(clip_distances(embedded, self.prototypes_, self.metric))
        return combine_by_clip(proba, windows.owner, windows.n_clips)

    # ----------------------------------------------------------------- support
    @classmethod
    def get_test_params(cls):
        """Tiny settings for scikit-learn's checks."""
        return {
            "n_maps": 4, "n_mels": 16, "n_fft": 64, "hop_length": 32, "window_seconds": 0.01,
            "n_way": 2, "n_shot": 1, "n_query": 1, "episodes_per_epoch": 2, "max_epochs": 1,
            "n_views": 2, "contrastive": "supcon", "projection_dim": 8, "random_state": 0,
        }

    _expected_failed_checks = CLASSIFIER_TRANSFORMER_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags


# Correlations between maps estimated over fewer positions of the last map are noise:
# over 2 they cost 7 points on the tests' synthetic sounds; the 20 positions of a
# 5-second window at the defaults gained 1.4-1.7 points at 5-shot on ESC-50.
MIN_CORRELATION_POSITIONS = 16


_POOLS = {Conv4Encoder: CONV4_POOLS, ResNetEncoder: RESNET_POOLS}


def _auto_pool(encoder, window_shape):
    """What ``test_time_pool="auto"`` means for a built-in ``encoder``: the texture
    statistics of its map beside the embedding it was trained with, where that is the
    plain one (the correlations only over at least ``MIN_CORRELATION_POSITIONS``
    positions), else its own pool."""
    rows, steps = encoder.map_shape(*window_shape)
    enough = rows * steps >= MIN_CORRELATION_POSITIONS
    if isinstance(encoder, ResNetEncoder):
        return "max+texture" if encoder.pool == "max" and enough else None
    if encoder.pool != "flatten":
        return None
    return "flatten+texture" if enough else "flatten+stats"
