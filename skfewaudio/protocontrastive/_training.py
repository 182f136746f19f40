"""skorch wiring of episodic meta-training: episode stream, net, validation callback."""

import copy

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch.utils.data import Dataset

from ..episodes import EpisodeSampler
from ..episodes import cached_episode_accuracies

_EPISODE_DRAW = 256  # episodes drawn at a time from the seeded stream


class EpisodeStream(Dataset):
    """Cached spectrograms and a seeded, never-repeating stream of episodes over them.

    Each item is one episode: the spectrograms of its ``n_way * n_shot`` support
    windows followed by its ``n_way * n_query`` query windows (class by class), and
    their episode labels ``0..n_way-1``. The random state persists across epochs,
    so every epoch sees new episodes and the whole run is fixed by the seed.
    """

    def __init__(self, spectrograms, codes, *, n_way, n_shot, n_query, episodes_per_epoch,
                 random_state):
        self.spectrograms = torch.as_tensor(spectrograms)
        self.codes = np.asarray(codes)
        self.n_way, self.n_shot, self.n_query = n_way, n_shot, n_query
        self.episodes_per_epoch = episodes_per_epoch
        self.rng = np.random.RandomState(random_state)
        self._pending = []

    def __len__(self):
        return self.episodes_per_epoch

    def next_episode(self):
        if not self._pending:
            sampler = EpisodeSampler(self.n_way, self.n_shot, self.n_query, _EPISODE_DRAW,
                                     random_state=self.rng)
            support, query = sampler.sample(self.codes)
            self._pending = list(zip(support, query))[::-1]
        support, query = self._pending.pop()
        indices = np.concatenate([support.ravel(), query.ravel()])
        labels = np.concatenate([np.repeat(np.arange(self.n_way), self.n_shot),
                                 np.repeat(np.arange(self.n_way), self.n_query)])
        return self.spectrograms[indices], torch.as_tensor(labels)

    def __getitem__(self, index):
        return self.next_episode()


class EpisodeLoader:
    """skorch iterator: yields ``len(dataset)`` episodes (one episode = one batch)."""

    def __init__(self, dataset, **kwargs):
        self.dataset = dataset

    def __iter__(self):
        for _ in range(len(self.dataset)):
            yield self.dataset.next_episode()

    def __len__(self):
        return len(self.dataset)


class EpisodicNet(NeuralNet):
    """A skorch net whose batches are episodes; the loss needs the support size."""

    def __init__(self, *args, n_support, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_support = n_support

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, y_true.to(self.device), self.n_support)


def embed(module, spectrograms, *, batch_size, device):
    """Evaluation-mode embeddings of ``spectrograms`` (n, n_mels, n_frames) -> ndarray."""
    was_training = module.training
    module.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(spectrograms), batch_size):
            batch = torch.as_tensor(spectrograms[start:start + batch_size]).to(device)
            out.append(module(batch).float().cpu().numpy())
    module.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


class EpisodicValidation(Callback):
    """Episodic accuracy on held-out classes after each epoch; keeps the best weights.

    Parameters
    ----------
    windows : WindowedSpectrograms
        Normalised validation windows.
    y : ndarray of shape (n_clips,)
    embed_clips : callable
        ``embed_clips(module, windows) -> (n_clips, dim)`` embeddings.
    n_way, n_shot, n_episodes, random_state, metric
        Validation episodes (1 query per class, the same episodes every epoch).
    patience : int or None
        Stop after this many epochs without improvement.
    """

    def __init__(self, windows, y, embed_clips, *, n_way, n_shot, n_episodes, random_state,
                 metric, patience=None):
        self.windows = windows
        self.y = y
        self.embed_clips = embed_clips
        self.n_way, self.n_shot, self.n_episodes = n_way, n_shot, n_episodes
        self.random_state = random_state
        self.metric = metric
        self.patience = patience

    def initialize(self):
        self.support_, self.query_ = EpisodeSampler(
            self.n_way, self.n_shot, 1, self.n_episodes, self.random_state).sample(self.y)
        self.best_score_ = -np.inf
        self.best_epoch_ = 0
        self.best_state_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        embeddings = self.embed_clips(net.module_, self.windows)
        accuracy = float(cached_episode_accuracies(embeddings, self.support_, self.query_,
                                                   self.metric).mean())
        epoch = len(net.history)
        improved = accuracy > self.best_score_
        if improved:
            self.best_score_, self.best_epoch_ = accuracy, epoch
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
        net.history.record("val_acc", accuracy)
        net.history.record("val_acc_best", bool(improved))
        if self.patience is not None and epoch - self.best_epoch_ >= self.patience:
            if net.verbose:
                print(f"Stopping: no validation improvement for {self.patience} epochs; "
                      f"best {self.best_score_:.4f} at epoch {self.best_epoch_}.")
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)

