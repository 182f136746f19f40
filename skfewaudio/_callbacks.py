"""skorch callbacks shared by the network estimators: episodic validation, early
stopping that survives a resume, and the per-epoch training checkpoint."""

import os
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from skorch.history import History

from .episodes import EpisodeSampler, cached_episode_accuracies

CHECKPOINT_FILE = "checkpoint.pt"
_CHECKPOINT_VERSION = 1


class EpisodicAccuracy(Callback):
    """After each epoch, few-shot accuracy on held-out classes, recorded in the history.

    Records ``valid_acc_<K>shot`` for each K in ``n_shots``: the mean accuracy of
    nearest-prototype ``n_way``-way K-shot episodes (one query per class). The
    episodes are drawn once, so every epoch is scored on the same ones.

    Parameters
    ----------
    embed : callable
        ``embed(module) -> ndarray (n_clips, n_features)``: embeddings of the
        held-out clips by the network being trained.
    y : ndarray of shape (n_clips,)
        Classes of the held-out clips.
    n_shots : sequence of int
    n_way, n_episodes, random_state, metric
        The episodes (see :class:`~skfewaudio.EpisodeSampler`).
    """

    def __init__(self, embed, y, *, n_shots=(1,), n_way=5, n_episodes=500, random_state=0,
                 metric="cosine"):
        self.embed = embed
        self.y = y
        self.n_shots = n_shots
        self.n_way = n_way
        self.n_episodes = n_episodes
        self.random_state = random_state
        self.metric = metric

    def initialize(self):
        counts = np.unique(self.y, return_counts=True)[1]
        n_way = min(self.n_way, len(counts))
        self.episodes_ = {
            k: EpisodeSampler(n_way, k, 1, self.n_episodes, self.random_state).sample(self.y)
            for k in self.n_shots if counts.min() >= k + 1
        }
        return self

    def on_epoch_end(self, net, **kwargs):
        embeddings = self.embed(net.module_)
        for k, (support, query) in self.episodes_.items():
            accuracy = cached_episode_accuracies(embeddings, support, query, self.metric)
            net.history.record(f"valid_acc_{k}shot", float(accuracy.mean()))


class ResumableEarlyStopping(EarlyStopping):
    """skorch's :class:`EarlyStopping` whose state can be rebuilt after a resume.

    Its counters are recomputed from the history on ``on_train_begin``, and the best
    weights are part of the training checkpoint, so a resumed fit stops and restores
    exactly as an uninterrupted one.
    """

    def on_train_begin(self, net, **kwargs):
        best = getattr(self, "resumed_best_weights_", None)
        super().on_train_begin(net, **kwargs)
        for epoch, score in enumerate(net.history[:, self.monitor] if net.history else [], 1):
            if self._is_score_improved(score):
                self.misses_, self.best_epoch_ = 0, epoch
                self.dynamic_threshold_ = self._calc_new_threshold(score)
            else:
                self.misses_ += 1
        self.best_model_weights_ = best
        self.resumed_best_weights_ = None

    def checkpoint_state(self):
        return {"best_model_weights": self.best_model_weights_}

    def restore_checkpoint_state(self, state):
        self.resumed_best_weights_ = state["best_model_weights"]


class TrainingCheckpoint(Callback):
    """Writes everything a fit needs to resume at the end of each epoch.

    The file holds the module, optimizer and criterion states, the history, the
    state of every random stream of the fit (``random_streams``), the checkpoint
    state of callbacks that define ``checkpoint_state``, and a fingerprint of the
    fit's parameters and data. Tensors, lists and plain numbers only, so it loads
    with ``torch.load(weights_only=True)``. It is replaced atomically, so a fit
    killed while writing leaves the previous epoch's checkpoint.

    Parameters
    ----------
    path : path-like
    fingerprint : str
    random_streams : dict
        name -> numpy ``RandomState``, ``torch.Generator`` or an object with
        ``state_dict``/``load_state_dict``; the global torch generator is added.
    """

    def __init__(self, path, fingerprint, random_streams):
        self.path = path
        self.fingerprint = fingerprint
        self.random_streams = random_streams

    def on_epoch_end(self, net, **kwargs):
        state = {
            "version": _CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "criterion": net.criterion_.state_dict(),
            "history": plain_values(net.history.to_list()),
            "random_streams": {name: stream_state(s) for name, s in self._streams().items()},
            "callbacks": {name: cb.checkpoint_state() for name, cb in net.callbacks_
                          if hasattr(cb, "checkpoint_state")},
        }
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        os.replace(partial, path)

    def _streams(self):
        return {"torch": _GlobalTorchGenerator(), **self.random_streams}

    def restore(self, net):
        """Load the checkpoint into an initialised ``net``; return the epochs done."""
        state = torch.load(self.path, map_location=net.device, weights_only=True)
        if state.get("version") != _CHECKPOINT_VERSION or state["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"{self.path} is the checkpoint of another fit (different parameters or "
                "training data); delete it or give another checkpoint_dir to start anew."
            )
        net.module_.load_state_dict(state["module"])
        net.criterion_.load_state_dict(state["criterion"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(state["history"])
        for name, stream in self._streams().items():
            set_stream_state(stream, state["random_streams"][name])
        callbacks = dict(net.callbacks_)
        for name, cb_state in state["callbacks"].items():
            callbacks[name].restore_checkpoint_state(cb_state)
        return len(net.history)


class _GlobalTorchGenerator:
    """The global CPU torch generator (dropout, masks without their own generator)."""

    def state_dict(self):
        return {"state": torch.random.get_rng_state()}

    def load_state_dict(self, state):
        torch.random.set_rng_state(state["state"])


def stream_state(stream):
    """A tensor/list form of a random stream's state."""
    if isinstance(stream, np.random.RandomState):
        kind, keys, pos, has_gauss, gauss = stream.get_state()
        return {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                "has_gauss": int(has_gauss), "gauss": float(gauss)}
    if isinstance(stream, torch.Generator):
        return {"state": stream.get_state()}
    return stream.state_dict()


def set_stream_state(stream, state):
    if isinstance(stream, np.random.RandomState):
        stream.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"],
                          state["has_gauss"], state["gauss"]))
    elif isinstance(stream, torch.Generator):
        stream.set_state(state["state"])
    else:
        stream.load_state_dict(state)


def plain_values(value):
    """History entries as plain Python values (numpy scalars do not load safely)."""
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
