"""Few-shot adaptation of audio-language (CLAP) models.

:class:`MultiGrainedCLAPAdapter` (Zhao et al., ACM MM 2024) on any backbone that
follows :class:`AudioTextBackbone`: Microsoft CLAP 2022/2023 (:class:`MSCLAPBackbone`),
LAION CLAP through transformers (:class:`LAIONCLAPBackbone`) or the offline,
audio-untrained :class:`RandomAudioMiniLMBackbone`.
"""

from ._adapter import MultiGrainedCLAPAdapter
from ._backbone import AudioTextBackbone, RandomAudioMiniLMBackbone
from ._laion import LAIONCLAPBackbone
from ._msclap import MSCLAPBackbone
from ._registry import load_backbone
from ._text import DEFAULT_TEMPLATES, default_descriptions

__all__ = [
    "AudioTextBackbone",
    "DEFAULT_TEMPLATES",
    "LAIONCLAPBackbone",
    "MSCLAPBackbone",
    "MultiGrainedCLAPAdapter",
    "RandomAudioMiniLMBackbone",
    "default_descriptions",
    "load_backbone",
]
