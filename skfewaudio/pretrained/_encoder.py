"""PretrainedEncoder: clip embeddings from a pretrained audio model of ``transformers``."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from .._torch_utils import length_groups, resolve_device
from .._validation import (
    WAVEFORM_EXPECTED_FAILED_CHECKS,
    validate_audio_after_fit,
    validate_fit_audio,
)
from .._windows import combine_by_clip, window_starts
from ..features import RESAMPLER, resample
from ._cache import EmbeddingCache, clip_key
from .._hf_audio import load_model, load_spec, minimum_samples, model_identity, window_vectors

# Window of models that take any length (wav2vec2, HuBERT, WavLM): attention memory
# grows with the square of the length, so long recordings are cut.
ANY_LENGTH_WINDOW_SECONDS = 10.0
class PretrainedEncoder(TransformerMixin, BaseEstimator):
    """Embed clips with a pretrained audio model from the Hugging Face hub or a folder.

    Works with ``AutoModel`` audio models (AST, wav2vec2, HuBERT, WavLM, Data2Vec-Audio,
    ...), the encoder of Whisper models and the audio tower of ``ClapModel`` (LAION
    CLAP). Nothing is learned: the model is frozen, so the encoder needs no ``fit``
    (``fit`` only checks that the model exists and is an audio model, reading its
    config and feature extractor) and can go straight into
    ``PrototypeClassifier(encoder=...)``, where every clip is embedded once per
    evaluation.

    How a clip becomes one vector:

    1. It is resampled from ``sample_rate`` to the model's rate (soxr, high quality).
    2. It is cut into consecutive windows of ``window_seconds``; the last window ends
       at the clip's end (it overlaps the one before), so every sample is seen and all
       windows of a long clip have the same length. A clip no longer than a window is
       one window; clips shorter than 25 ms are zero-padded to 25 ms.
    3. Each window goes through the model's own feature extractor (which pads or
       repeats it to the model's input, as the model was trained) and the model.
    4. ``pooling`` turns the window into a vector: the mean or maximum over time of
       the hidden layer ``layer`` (for Whisper only over the frames that hold audio,
       not its padding), or the model's own pooled output.
    5. The clip's vector is the mean (``"max"``: the maximum) of its windows' vectors.

    Results do not depend on the batch: windows are padded only by the feature
    extractor of fixed-input models (AST, Whisper, CLAP) and each one on its own;
    models that take any length get batches of equal-length windows, never padding.
    Everything is deterministic (no random crops; CLAP's random ``is_longer`` flag and
    Whisper's dither are switched off).

    The weights are loaded on the first ``transform`` (once per process and device,
    shared by clones) and are **never pickled**: a saved encoder holds the model id or
    folder, and loads the weights again, from the Hugging Face cache or the folder,
    when first used after loading.

    Parameters
    ----------
    model : str or path-like, default="laion/clap-htsat-unfused"
        Hugging Face hub id or a local folder saved with ``save_pretrained`` (config,
        weights and feature extractor). Hub models are looked up in the Hugging Face
        cache (``HF_HOME``, default ``~/.cache/huggingface``) and downloaded unless
        ``HF_HUB_OFFLINE=1``.
    revision : str or None, default=None
        Hub branch, tag or commit.
    sample_rate : int, default=16000
        Sample rate of the clips passed in.
    layer : int, default=-1
        -1 uses the model's output (``last_hidden_state``); any other value indexes its
        ``hidden_states`` (0: the embeddings before the first block).
    pooling : {"mean", "max", "pooler"}, default="mean"
        ``"mean"``/``"max"`` over the layer's time frames (AST: its patch tokens; CLAP:
        time steps averaged over frequency, or the positions of inner feature maps).
        ``"pooler"`` is the model's own clip embedding and ignores ``layer``: AST's
        pooled class tokens, or for CLAP the projected audio embedding, in the space
        its text tower shares.
    window_seconds : float or None, default=None
        Window length; None uses the model's own input length (AST 10.24 s, CLAP 10 s,
        Whisper 30 s), or 10 s for models that take any length. It cannot exceed the
        model's own input length.
    batch_size : int, default=8
        Windows per model call.
    device : {"cpu", "cuda", "auto"} or str, default="cpu"
    cache : str, path-like or None, default=None
        Folder of an on-disk embedding cache (see :class:`EmbeddingCache`): each clip
        is embedded once across ``fit``, ``predict``, episodes and runs. Keyed by the
        model (hub commit, or the folder's content hash), the settings above that
        change embeddings, and the clip's samples and sample rate.

    Attributes
    ----------
    model_sample_rate_ : int
        Rate the clips are resampled to.
    window_seconds_ : float
        Window length used.

    Examples
    --------
    >>> from skfewaudio import PretrainedEncoder, PrototypeClassifier
    >>> clf = PrototypeClassifier(encoder=PretrainedEncoder("laion/clap-htsat-unfused"),
    ...                           metric="cosine")  # doctest: +SKIP
    >>> clf.fit(support_X, support_y).predict(query_X)  # doctest: +SKIP
    """

    _parameter_constraints = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "layer": [Integral],
        "pooling": [StrOptions({"mean", "max", "pooler"})],
        "window_seconds": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda", "auto"}), str],
        "cache": [str, os.PathLike, None],
    }

    def __init__(self, model="laion/clap-htsat-unfused", *, revision=None, sample_rate=16000,
                 layer=-1, pooling="mean", window_seconds=None, batch_size=8, device="cpu",
                 cache=None):
        self.model = model
        self.revision = revision
        self.sample_rate = sample_rate
        self.layer = layer
        self.pooling = pooling
        self.window_seconds = window_seconds
        self.batch_size = batch_size
        self.device = device
        self.cache = cache

    def fit(self, X, y=None):
        """Check the parameters and that the model exists; no weights are loaded.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        validate_fit_audio(self, X, spectrograms=False)
        spec = load_spec(self.model, self.revision)
        self.model_sample_rate_ = spec.sample_rate
        self.window_seconds_ = self._window(spec) / spec.sample_rate
        return self

    def transform(self, X):
        """Embed clips.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Clips at ``sample_rate``, of any lengths.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features), float32
        """
        self._validate_params()  # fit is optional, so the parameters are checked here too
        X = validate_audio_after_fit(self, X, spectrograms=False)
        spec = load_spec(self.model, self.revision)
        window = self._window(spec)
        if self.cache is None:
            return self._embed(spec, X, window)
        store = self._store(spec, window)
        keys = [clip_key(clip, self.sample_rate) for clip in X]
        embeddings = [store.get(key) for key in keys]
        missing = [i for i, embedding in enumerate(embeddings) if embedding is None]
        if missing:
            for i, embedding in zip(missing, self._embed(spec, [X[i] for i in missing], window)):
                store.put(keys[i], embedding)
                embeddings[i] = embedding
        return np.stack(embeddings)

    def _window(self, spec):
        """Window length in samples at the model's rate."""
        if self.window_seconds is None:
            return spec.window_samples or int(ANY_LENGTH_WINDOW_SECONDS * spec.sample_rate)
        window = max(1, int(round(self.window_seconds * spec.sample_rate)))
        if spec.window_samples is not None and window > spec.window_samples:
            longest = spec.window_samples / spec.sample_rate
            raise ValueError(
                f"window_seconds={self.window_seconds} is longer than the input of "
                f"{spec.source!r} ({longest:g} s), which would cut the rest off; use "
                f"window_seconds <= {longest:g} or None."
            )
        return window

    def _store(self, spec, window):
        return EmbeddingCache(self.cache, {
            "model": model_identity(spec), "kind": spec.kind, "layer": int(self.layer),
            "pooling": self.pooling, "model_sample_rate": spec.sample_rate,
            "window_samples": window, "min_samples": minimum_samples(spec),
            "resampler": RESAMPLER,
        })

    def _embed(self, spec, clips, window):
        """Model embeddings of validated clips: float32 array (n_clips, n_features)."""
        model = load_model(spec, resolve_device(self.device))
        windows, owner = _cut(resample(clips, self.sample_rate, spec.sample_rate),
                              window, minimum_samples(spec))
        # Models of any input length get equal-length batches: no padding at all.
        groups = [np.arange(len(windows))] if spec.window_samples else length_groups(windows)
        vectors = [None] * len(windows)
        for group in groups:
            for start in range(0, len(group), self.batch_size):
                batch = group[start:start + self.batch_size]
                out = window_vectors(model, [windows[j] for j in batch], layer=self.layer,
                                     pooling=self.pooling)
                for j, vector in zip(batch, out):
                    vectors[j] = vector
        vectors = np.stack(vectors)
        if self.pooling == "max":
            pooled = np.full((len(clips), vectors.shape[1]), -np.inf, dtype=np.float32)
            np.maximum.at(pooled, owner, vectors)
            return pooled
        return combine_by_clip(vectors, owner, len(clips)).astype(np.float32, copy=False)

    _expected_failed_checks = WAVEFORM_EXPECTED_FAILED_CHECKS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # a frozen pretrained model: nothing to learn
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # The test settings build a tiny model with transformers (the pretrained extra).
    _test_requires = ("transformers",)

    @classmethod
    def get_test_params(cls):
        """A tiny, random AST built offline in ``~/.cache/skfewaudio/test-models``."""
        from ._testing import tiny_model_path

        return {"model": str(tiny_model_path("ast")), "batch_size": 4}


def _cut(clips, window, minimum):
    """Windows of every clip (see the class docstring) and the clip each came from."""
    windows, owner = [], []
    for index, clip in enumerate(clips):
        if len(clip) < minimum:
            clip = np.pad(clip, (0, minimum - len(clip)))
        starts = window_starts(len(clip), window, window)
        windows += [clip[start:start + window] for start in starts]
        owner += [index] * len(starts)
    return windows, np.asarray(owner)
