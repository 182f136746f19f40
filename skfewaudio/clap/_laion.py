"""LAION CLAP (``transformers.ClapModel``) as an :class:`AudioTextBackbone`."""

import numpy as np
import torch

from .._hf_audio import LoadedModel, clap_audio, extract_features, load_spec
from ._backbone import _TextCache

__all__ = ["LAIONCLAPBackbone"]

# LAION CLAP was trained on captions of at most 77 tokens.
TEXT_TOKENS = 77


class LAIONCLAPBackbone:
    """LAION CLAP from the Hugging Face hub or a local folder (frozen, eval mode).

    Any ``ClapModel`` checkpoint: ``"laion/clap-htsat-unfused"`` (HTS-AT audio
    encoder, RoBERTa text encoder, 512-d space, 48 kHz, 10 s), ``"laion/clap-htsat-fused"``,
    ``"laion/larger_clap_general"``... Clips longer than the model's input keep their
    first 10 s (as :class:`MSCLAPBackbone` keeps its first seconds); shorter ones are
    repeated and padded by CLAP's own feature extractor. Deterministic: no random crop
    is ever taken and the fusion branch's ``is_longer`` flags are False.

    Coarse embedding: CLAP's audio embedding (the projection of the pooled last
    feature map). Fine embeddings: the same projection applied to each time step of
    that map averaged over frequency (their pre-projection mean is the pooled map).
    Text embeddings: CLAP's projected text embedding.

    Files are looked up as by :class:`~skfewaudio.PretrainedEncoder`: a local folder,
    the Hugging Face cache (``HF_HOME``), then the hub unless ``HF_HUB_OFFLINE=1``.

    Parameters
    ----------
    model : str or path-like, default="laion/clap-htsat-unfused"
    revision : str or None, default=None
    device : str, default="cpu"
    """

    def __init__(self, model="laion/clap-htsat-unfused", *, revision=None, device="cpu"):
        self.model, self.revision, self.device = str(model), revision, device
        self._clap = self._audio = self._tokenizer = None
        self._text_cache = _TextCache(self._encode_text)

    def _spec(self):
        spec = load_spec(self.model, self.revision)
        if spec.kind != "clap":
            raise ValueError(
                f"{self.model!r} is a {spec.model_type!r} model, not a CLAP model: the "
                "adapter needs an audio-text ClapModel such as 'laion/clap-htsat-unfused' "
                "(use PretrainedEncoder for audio-only models).")
        return spec

    @property
    def sample_rate(self):
        return self._spec().sample_rate

    def load(self):
        """Load the weights and the tokenizer (once)."""
        if self._clap is not None:
            return self
        import transformers

        spec = self._spec()
        clap = transformers.ClapModel.from_pretrained(spec.source, revision=spec.revision)
        clap = clap.float().eval().requires_grad_(False).to(self.device)
        extractor = transformers.AutoFeatureExtractor.from_pretrained(
            spec.source, revision=spec.revision)
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(
            spec.source, revision=spec.revision)
        self._audio = LoadedModel(spec, clap.audio_model, extractor, clap.audio_projection,
                                  str(self.device))
        self._clap = clap
        return self

    def embed_audio(self, waveforms):
        audio = self.load()._audio
        n_samples = audio.spec.window_samples
        clips = [np.asarray(w, dtype=np.float32)[:n_samples] for w in waveforms]
        with torch.no_grad():
            coarse, fine = clap_audio(audio, extract_features(audio, clips))
        return coarse.cpu(), fine.cpu()

    def _encode_text(self, texts):
        clap = self.load()._clap
        tokens = self._tokenizer(list(texts), padding=True, truncation=True,
                                 max_length=TEXT_TOKENS, return_tensors="pt")
        with torch.no_grad():
            pooled = clap.text_model(input_ids=tokens["input_ids"].to(self.device),
                                     attention_mask=tokens["attention_mask"].to(self.device)
                                     ).pooler_output
            return clap.text_projection(pooled).cpu()

    def embed_text(self, texts):
        return self._text_cache(list(texts))

    def __getstate__(self):
        state = self.__dict__.copy()  # the weights reload from the hub cache or folder
        state.update(_clap=None, _audio=None, _tokenizer=None, _text_cache=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._text_cache = _TextCache(self._encode_text)

    def __repr__(self):
        return f"LAIONCLAPBackbone({self.model!r})"
