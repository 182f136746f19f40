"""The engine under every network estimator.

:class:`NetworkEstimator` owns what the estimators that train a torch network with
skorch have in common: the device rule, seeding that leaves the caller's random
streams alone, building the skorch net (with the user's optimizer, optimizer
settings, callbacks and module settings), training with optional checkpoints and
resume, batched evaluation-mode embedding, the post-fit clean-up and the pickling
policy. An estimator says only how to build its module, its criterion and its data
iterator. :class:`NetworkClassifierMixin` adds ``predict``, ``decision_function``
and ``score`` from the estimator's class scores.
"""

import copy
import os
import time
from contextlib import contextmanager
from functools import partial
from numbers import Integral
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.history import History

from ._callbacks import CHECKPOINT_FILE, TrainingCheckpoint
from ._persistence import default_missing_parameters
from ._torch_utils import resolve_device, torch_seed
from ._validation import check_query_labels

__all__ = ["NetworkEstimator", "NetworkClassifierMixin", "NETWORK_PARAMETER_CONSTRAINTS"]

# Parameters every network estimator has, with one meaning everywhere.
NETWORK_PARAMETER_CONSTRAINTS = {
    "optimizer": [callable, None],
    "optimizer_params": [dict, None],
    "callbacks": [list, None],
    "module_params": [dict, None],
    "embed_batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
# skorch's own callbacks: kept in a trained net; all others are dropped after fit.
_DEFAULT_CALLBACKS = (EpochTimer, PassthroughScoring, PrintLog)


class NetworkEstimator(BaseEstimator):
    """Base of the estimators that train a torch network through skorch.

    Subclasses implement ``_module_factory()`` (a callable that builds the module
    from keyword arguments) and ``_criterion()``, may override
    ``_default_optimizer()`` and ``_net_class``, and call :meth:`_fit_network` from
    their ``fit`` with the module arguments, data and data iterator.

    Shared parameters (documented on each estimator): ``optimizer`` (a torch
    optimizer class; None for the estimator's own), ``optimizer_params`` (keyword
    arguments of the optimizer; with the estimator's own optimizer they update its
    defaults), ``callbacks`` (skorch callbacks, added after the estimator's own),
    ``module_params`` (keyword arguments of the built-in module, updating the ones
    the estimator derives from its parameters), ``embed_batch_size``, ``device``,
    ``checkpoint_dir``, ``random_state`` and ``verbose``.
    """

    _net_class = NeuralNet

    # ----------------------------------------------------------- subclass API
    def _module_factory(self):
        raise NotImplementedError

    def _criterion(self):
        raise NotImplementedError

    def _default_optimizer(self):
        """The estimator's own optimizer class and its keyword arguments."""
        return torch.optim.Adam, {}

    # ---------------------------------------------------------------- fitting
    def _device(self):
        return resolve_device(self.device)

    @contextmanager
    def _seeded(self):
        """Seed torch from ``random_state`` inside a fork of the global random streams.

        Yields a ``numpy.random.RandomState`` for the fit's other seeds, so the
        caller's torch (CPU and CUDA) and numpy streams are left as they were.
        """
        device = torch.device(self._device())
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            rng = np.random.RandomState(torch_seed(self.random_state))
            torch.manual_seed(int(rng.randint(0, 2**31 - 1)))
            yield rng

    def _make_net(self, module_kwargs, *, callbacks=(), **net_kwargs):
        """The skorch net: the estimator's module, criterion and callbacks plus the
        user's optimizer, optimizer settings, callbacks and module settings."""
        default, default_params = self._default_optimizer()
        optimizer = self.optimizer or default
        optimizer_params = dict(default_params) if optimizer is default else {}
        optimizer_params.update(self.optimizer_params or {})
        module_kwargs = {**module_kwargs, **(self.module_params or {})}
        user_callbacks = [copy.deepcopy(cb) for cb in (self.callbacks or [])]
        return self._net_class(
            module=self._module_factory(),
            **{f"module__{k}": v for k, v in module_kwargs.items()},
            criterion=self._criterion(),
            optimizer=optimizer,
            **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
            callbacks=list(callbacks) + user_callbacks,
            train_split=None,
            verbose=self.verbose,
            device=net_kwargs.pop("device", None) or self._device(),
            **net_kwargs,
        )

    def _train(self, net, X, y=None, *, random_streams=None, fingerprint_data=()):
        """Initialise ``net`` and train it for its ``max_epochs``, resuming from
        ``checkpoint_dir`` when it holds a checkpoint of this same fit."""
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = TrainingCheckpoint(
                Path(self.checkpoint_dir) / CHECKPOINT_FILE,
                self._fingerprint(fingerprint_data), random_streams or {})
            net.callbacks = list(net.callbacks or []) + [("checkpoint", checkpoint)]
            if net.initialized_:  # (the CLAP adapter initialises its net to score caches)
                net.initialize_callbacks()
        if not net.initialized_:
            net.initialize()
            # NHWC weights: oneDNN's convolutions trained 1.3-1.9x faster in this layout
            # (conv-4, CPU; benchmarks/training_speed.py). Parameters stay the same objects.
            net.module_.to(memory_format=torch.channels_last)
        done = 0
        if checkpoint is not None and os.path.exists(checkpoint.path):
            done = checkpoint.restore(net)
            if self.verbose:
                print(f"Resuming from {checkpoint.path} after epoch {done}.")
        net.partial_fit(X, y, epochs=max(0, net.max_epochs - done))
        return net

    def _fingerprint(self, data):
        """Hash of the parameters that shape training and of the training data."""
        ignored = {"checkpoint_dir", "verbose", "embed_batch_size", "callbacks"}
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ignored}
        return joblib.hash((type(self).__name__, params, [np.asarray(d) for d in data]))

    def _fit_network(self, fit, *args, **kwargs):
        """Run ``fit(rng, *args, **kwargs)`` seeded and timed, then tidy the net."""
        start = time.perf_counter()
        with self._seeded() as rng:
            fit(rng, *args, **kwargs)
        self._tidy_net()
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _tidy_net(self):
        """Keep what inference needs: the estimator's and user's callbacks hold data,
        references to the estimator and optimizer state, none of which a trained
        model needs (and which would make pickles large and unstable)."""
        net = self.net_
        net.callbacks_ = [(name, cb) for name, cb in net.callbacks_
                          if isinstance(cb, _DEFAULT_CALLBACKS)]
        net.callbacks = None
        net.module_.eval()

    def _best_epoch(self, key):
        """Epoch (1-based) with the highest ``key`` in the history, else None."""
        history = self.net_.history
        if not history or key not in history[-1]:
            return None
        return int(np.argmax(history[:, key])) + 1

    def _module_kwargs(self):
        """The module's arguments derived from the parameters and fitted attributes."""
        raise NotImplementedError

    def _module_kwargs_for(self, module_state):
        """The module's arguments to rebuild it around saved weights."""
        return self._module_kwargs()

    def _restore_net(self, module_state, criterion_state, history):
        """A trained net rebuilt from saved weights and history (on the CPU)."""
        net = self._make_net(self._module_kwargs_for(module_state), device="cpu")
        net.initialize()
        net.module_.load_state_dict(module_state)
        net.criterion_.load_state_dict(criterion_state)
        net.history = History(history)
        self.net_ = net
        self._tidy_net()
        return net

    # -------------------------------------------------------------- inference
    def _embed_batches(self, fast, inputs, forward=None):
        """``forward(fast, batch)`` over ``inputs`` (an array or tensor of rows) in
        batches of ``embed_batch_size``; float32.

        ``fast`` is an :func:`~skfewaudio.nn.inference_module` (an eval-mode copy
        with batch norm folded in); ``forward=None`` calls it on the batch.
        """
        device = self.net_.device if hasattr(self, "net_") else self._device()
        forward = fast if forward is None else partial(forward, fast)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.embed_batch_size):
                batch = torch.as_tensor(inputs[start:start + self.embed_batch_size])
                outputs.append(forward(batch.to(device)).float().cpu().numpy())
        if not outputs:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(outputs)

    # ------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        net = state.get("net_")
        if net is not None and torch.device(net.device).type != "cpu":
            # CPU tensors in the file, so a GPU-trained model loads without a GPU.
            state["net_"] = net_on_cpu(net)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        default_missing_parameters(self)  # pickled before a parameter was added


def net_on_cpu(net):
    """A copy of a fitted skorch net with its module and criterion on the CPU."""
    cpu_net = copy.copy(net)
    cpu_net.device = "cpu"
    cpu_net.module_ = copy.deepcopy(net.module_).to("cpu")
    cpu_net.criterion_ = copy.deepcopy(net.criterion_).to("cpu")
    cpu_net.initialize_optimizer()
    # load_state_dict moves the optimizer state onto the (CPU) parameters' device.
    cpu_net.optimizer_.load_state_dict(net.optimizer_.state_dict())
    return cpu_net


class NetworkClassifierMixin(ClassifierMixin):
    """``predict``, ``decision_function`` and ``score`` from per-class scores.

    The estimator implements ``predict_proba`` and may implement
    ``_class_scores(X, **predict_params)`` (default: the log of ``predict_proba``).
    ``predict_params`` are passed on (e.g. ``captions`` of the CLAP adapter).
    """

    def _class_scores(self, X, **predict_params):
        return np.log(np.maximum(self.predict_proba(X, **predict_params), 1e-300))

    def decision_function(self, X, **predict_params):
        """Score of each class, ``(n_clips, n_classes)``; for two classes, as
        scikit-learn expects, ``score(classes_[1]) - score(classes_[0])``."""
        return _binary_collapse(self._class_scores(X, **predict_params), self.classes_)

    def predict(self, X, **predict_params):
        """The class with the highest score, shape (n_clips,)."""
        scores = self._class_scores(X, **predict_params)  # checks fitting first
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X, y, sample_weight=None, **predict_params):
        """Accuracy on labelled queries; their labels must all be known classes."""
        check_is_fitted(self)
        check_query_labels(y, self.classes_)
        return accuracy_score(y, self.predict(X, **predict_params),
                              sample_weight=sample_weight)


def _binary_collapse(scores, classes):
    return scores[:, 1] - scores[:, 0] if len(classes) == 2 else scores
