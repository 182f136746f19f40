"""The recipe chosen on ESC-50's train classes, for a user's own base classes.

Four networks meta-trained on the base classes, each seeing the clips through its own
front-end, are joined with the learning-free ``SpectralStatistics``; the joined
embedding is whitened within the base classes, and each few-shot task is read by a
linear probe. Every choice was made by class-disjoint cross-validation on the 35
ESC-50 train classes (``docs/protocontrastive.md``); the committed model
``benchmarks/models/protocontrastive_probe_esc50.safetensors`` is this recipe.
"""

from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from ..features import SpectralStatistics
from ..linear_probe import LinearProbeClassifier
from ..prototype import PrototypeClassifier
from ..whitening import WithinClassWhitening
from ._classifier import ProtoContrastiveClassifier

# What sets each network apart, in the order they add to the ensemble (each one was
# kept when it beat the ensemble before it on the selection folds).
NETWORKS = (
    {"encoder": "conv4"},
    {"encoder": "resnet"},
    {"encoder": "resnet", "n_mels": 64, "n_fft": 512, "hop_length": 256},  # 16 ms steps
    {"encoder": "resnet", "compression": "pcen"},
)
SPECTRAL_WEIGHT = 0.5  # share of the cosine similarity given to SpectralStatistics
WHITENING = 0.98  # WithinClassWhitening's shrinkage
PROBE_C = 10.0


def train_ensemble(X_base, y_base, *, n_networks=len(NETWORKS), random_state=0,
                   checkpoint_dir=None, verbose=0, **network_params):
    """Meta-train the recommended networks on base classes and build the few-shot model.

    Parameters
    ----------
    X_base : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        Waveforms of the base classes (at ``sample_rate``, 16 kHz by default).
    y_base : array-like of shape (n_clips,)
        Their classes: two or more, each with ``n_shot + n_query`` (3) clips or more.
        Training episodes hold 10 classes, or all of them where there are fewer.
    n_networks : int, default=4
        The first ``n_networks`` of :data:`NETWORKS`. On the selection folds of the
        ESC-50 train classes (5-way 1-shot / 5-shot %): 1 (the conv-4 only) 76.2 /
        92.3, 2: 78.3 / 93.4, 3: 79.6 / 94.0, 4: 80.4 / 94.6. Each network takes
        about a quarter of the time: 25 minutes for all four on 1,120 five-second
        clips with 2 CPU cores.
    random_state : int, default=0
        Seed of every network.
    checkpoint_dir : str, path-like or None, default=None
        Each network writes its per-epoch checkpoint to a sub-folder
        (``network0``...), so an interrupted run resumes where it stopped.
    verbose : int, default=0
        ``1`` prints one line per epoch of each network.
    **network_params
        :class:`ProtoContrastiveClassifier` parameters for every network (e.g.
        ``window_seconds=1.0`` for short clips, ``max_epochs``, ``device="cuda"``);
        the settings that set a network apart (:data:`NETWORKS`) take precedence.

    Returns
    -------
    model : LinearProbeClassifier
        Unfitted, on the frozen joined encoder: ``model.fit(support_X,
        support_y).predict(query_X)`` for each few-shot task, no network training.
        ``skfewaudio.save`` writes it; ``skfewaudio evaluate --model`` and the
        ``--model`` of ``classify`` and ``search`` read it.
    """
    if not 1 <= n_networks <= len(NETWORKS):
        raise ValueError(f"n_networks must be 1 to {len(NETWORKS)}, got {n_networks!r}.")
    n_classes = len(np.unique(y_base))
    if n_classes < 2:
        raise ValueError(f"the base clips are of {n_classes} class; meta-training needs "
                         "two base classes or more.")
    # Episodes of 10 classes (the default), or of all of them where there are fewer.
    network_params.setdefault("n_way", min(ProtoContrastiveClassifier().n_way, n_classes))
    networks = []
    for i, own in enumerate(NETWORKS[:n_networks]):
        checkpoints = None if checkpoint_dir is None else Path(checkpoint_dir) / f"network{i}"
        if verbose:
            print(f"network {i + 1} of {n_networks}: "
                  + ", ".join(f"{key}={value}" for key, value in own.items()))
        network = ProtoContrastiveClassifier(
            **{**network_params, **own}, random_state=random_state,
            checkpoint_dir=checkpoints, verbose=verbose)
        networks.append(network.fit(X_base, y_base))
    return join_encoders(networks, X_base, y_base)


def join_encoders(encoders, X_base, y_base=None, *, spectral_weight=SPECTRAL_WEIGHT,
                  whitening=WHITENING, C=PROBE_C, centre=True, spectral=None):
    """A few-shot model on fitted encoders joined with ``SpectralStatistics``.

    Each encoder's embedding is centred on the mean embedding of the base clips when
    ``centre`` (CL2N, as SimpleShot). With several encoders or a ``spectral_weight``
    w > 0, the embedding joins the L2-normalised parts, each scaled by the square root
    of its weight: the cosine similarity of two clips is then the weighted mean of
    the parts' similarities, w for ``spectral`` (``SpectralStatistics()`` by default)
    and 1 - w shared by the encoders. With ``whitening`` (a shrinkage; None for
    none), the joined embedding then passes through a ``WithinClassWhitening``
    learned on ``(X_base, y_base)``.

    Returns
    -------
    model : LinearProbeClassifier or PrototypeClassifier
        Unfitted, on the frozen encoder: a linear probe with that ``C``, or, for
        ``C=None``, the nearest cosine prototype.
    """
    encoders = list(encoders) if isinstance(encoders, (list, tuple)) else [encoders]
    joined = len(encoders) > 1 or spectral_weight > 0
    parts = []
    for i, encoder in enumerate(encoders):
        steps = [FrozenEstimator(encoder)]
        if centre:
            steps.append(StandardScaler(with_std=False))
        if joined:  # each part L2-normalised, so the weights split the similarity
            steps.append(Normalizer())
        # Only the centring learns from the base clips; fit marks the rest fitted.
        learned = make_pipeline(*steps).fit(X_base if centre else X_base[:1])
        parts.append((f"learned{i}", learned, (1 - spectral_weight) / len(encoders)))
    if spectral_weight:
        spectral = SpectralStatistics() if spectral is None else spectral
        parts.append(("spectral", make_pipeline(spectral, Normalizer()).fit(X_base[:1]),
                      spectral_weight))
    encoder = parts[0][1] if not joined else FeatureUnion(
        [(name, FrozenEstimator(part)) for name, part, _ in parts],
        transformer_weights={name: float(np.sqrt(weight)) for name, _, weight in parts},
    ).fit(X_base[:1])
    if whitening is not None:
        if y_base is None:
            raise ValueError("whitening is learned from the base classes: give y_base.")
        encoder = make_pipeline(FrozenEstimator(encoder),
                                WithinClassWhitening(shrinkage=whitening)).fit(X_base, y_base)
    if C is not None:
        return LinearProbeClassifier(encoder=FrozenEstimator(encoder), C=C)
    return PrototypeClassifier(encoder=FrozenEstimator(encoder), metric="cosine")


def joined_encoders(model):
    """The fitted encoders inside a model built by :func:`join_encoders` from several
    encoders or with the spectral statistics, in order (the committed ESC-50 model's
    four networks, say)."""
    encoder = model.encoder.estimator
    if isinstance(encoder, Pipeline):  # FrozenEstimator(union) + WithinClassWhitening
        encoder = encoder.steps[0][1].estimator
    return [part.estimator.steps[0][1].estimator
            for name, part in encoder.transformer_list if name.startswith("learned")]
