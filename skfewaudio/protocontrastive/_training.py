"""What episodic meta-training supplies to the network base: its module, its episode
stream (the data iterator) and a net whose batches are episodes."""

import copy

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn
from torch.utils.data import Dataset

from .._callbacks import set_stream_state, stream_state
from .._torch_utils import output_dim
from ..episodes import EpisodeSampler
from ..nn.augment import TimeFrequencyMasking
from ..nn.encoders import build_encoder
from ..nn.fusion import MultiViewEncoder

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

    def state_dict(self):
        """Random state and drawn-but-unused episodes, for resuming a fit."""
        return {"rng": stream_state(self.rng),
                "pending": [[torch.as_tensor(s), torch.as_tensor(q)] for s, q in self._pending]}

    def load_state_dict(self, state):
        set_stream_state(self.rng, state["rng"])
        self._pending = [(s.numpy(), q.numpy()) for s, q in state["pending"]]


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

    def __init__(self, *args, n_support=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_support = n_support

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, y_true.to(self.device), self.n_support)


def protocontrastive_network(*, encoder, window_shape, n_mels, n_maps, in_stride, n_views,
                             augment, freq_mask_param, time_mask_param, projection_dim,
                             key_dim=64, channels_last=True, encoder_params=None):
    """The meta-trained module: encoder -> view fusion (+ projection head).

    ``encoder`` is ``"conv4"``, ``"crnn"`` or a module (copied, never modified) mapping
    ``(batch, 1, n_mels, n_frames)`` to ``(batch, dim)``; ``dim`` is found by running
    it on one zero window of ``window_shape`` (n_mels, n_frames). ``key_dim``,
    ``channels_last`` and ``encoder_params`` (more keyword arguments of a built-in
    encoder, e.g. ``{"pool": "meanmax"}``) are settable through the estimator's
    ``module_params``.
    """
    if isinstance(encoder, nn.Module):
        encoder = copy.deepcopy(encoder)
    else:
        encoder = build_encoder(encoder, n_mels=n_mels, n_maps=n_maps, in_stride=in_stride,
                                **(encoder_params or {}))
    masking = None
    if augment:
        masking = TimeFrequencyMasking(freq_mask_param=freq_mask_param,
                                       time_mask_param=time_mask_param)
    return MultiViewEncoder(encoder, output_dim(encoder, (1,) + tuple(window_shape)),
                            n_views=n_views, augment=masking, projection_dim=projection_dim,
                            key_dim=key_dim, channels_last=channels_last)
