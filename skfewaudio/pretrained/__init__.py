"""Pretrained audio models of ``transformers`` as scikit-learn encoders.

:class:`PretrainedEncoder` embeds clips with AST, wav2vec2, HuBERT, WavLM, Whisper's
encoder, LAION CLAP's audio tower and other ``transformers`` audio models, given a
hub id or a local folder; :class:`EmbeddingCache` is its on-disk embedding store. See
``docs/pretrained.md``.
"""

from ._cache import EmbeddingCache
from ._encoder import PretrainedEncoder

__all__ = ["EmbeddingCache", "PretrainedEncoder"]
