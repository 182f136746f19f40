"""Backbones by name: MS-CLAP 2022/2023, the offline test backbone, LAION CLAP."""

import os

from ._backbone import RandomAudioMiniLMBackbone
from ._laion import LAIONCLAPBackbone
from ._msclap import MSCLAPBackbone

BACKBONE_NAMES = ("msclap-2022", "msclap-2023", "random-audio-minilm")
_LOADED = {}


def _is_laion_source(name):
    """A hub id (``"owner/name"``) or a local folder: a LAION CLAP ``ClapModel``."""
    return "/" in name or "\\" in name or os.path.isdir(name)


def load_backbone(name, *, weights=None, device="cpu"):
    """The backbone called ``name``, loaded once per process and then shared.

    Parameters
    ----------
    name : {"msclap-2022", "msclap-2023", "random-audio-minilm"} or str
        Or the hub id (``"laion/clap-htsat-unfused"``) or local folder of a LAION
        CLAP ``ClapModel`` (:class:`LAIONCLAPBackbone`).
    weights : str or path-like or None
        MS-CLAP checkpoint file; None looks in the usual places (see
        :class:`MSCLAPBackbone`).
    device : str

    Returns
    -------
    backbone : AudioTextBackbone
    """
    name = os.fspath(name)
    laion = name not in BACKBONE_NAMES and _is_laion_source(name)
    if name not in BACKBONE_NAMES and not laion:
        raise ValueError(f"unknown backbone {name!r}; choose one of {list(BACKBONE_NAMES)}, "
                         "a LAION CLAP hub id or folder such as 'laion/clap-htsat-unfused', "
                         "or pass an object with sample_rate, embed_audio and embed_text.")
    if laion and weights is not None:
        raise ValueError(f"weights={weights!r} is an MS-CLAP checkpoint option; the LAION "
                         f"CLAP backbone {name!r} loads its weights from its own folder.")
    key = (name, None if weights is None else str(weights), str(device))
    if key not in _LOADED:
        if laion:
            backbone = LAIONCLAPBackbone(name, device=device).load()
        elif name == "random-audio-minilm":
            backbone = RandomAudioMiniLMBackbone(device=device)
        else:
            backbone = MSCLAPBackbone(version=name.split("-")[1], weights=weights,
                                      device=device)
            backbone.load()  # fail here, with the message on where to put the weights
        _LOADED[key] = backbone
    return _LOADED[key]
