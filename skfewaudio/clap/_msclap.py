"""Microsoft CLAP (2022: CNN14 + BERT, 2023: HTS-AT + GPT-2) through msclap's model code."""

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

from ._backbone import _TextCache, fit_length

__all__ = ["MSCLAPBackbone", "msclap_config", "build_msclap", "weights_dir"]

HF_REPO = "microsoft/msclap"
# File names as in msclap's CLAPWrapper.model_name.
WEIGHT_FILES = {"2022": "CLAP_weights_2022.pth", "2023": "CLAP_weights_2023.pth",
                "clapcap": "clapcap_weights_2023.pth"}


def weights_dir():
    """A plain folder to copy checkpoints into on offline machines.

    ``$SKFEWAUDIO_MSCLAP_DIR``, else ``~/.cache/skfewaudio/msclap``.
    """
    default = Path.home() / ".cache" / "skfewaudio" / "msclap"
    return Path(os.environ.get("SKFEWAUDIO_MSCLAP_DIR", default)).expanduser()


def _msclap_models():
    """Import ``msclap.models`` without running ``msclap/__init__.py``.

    msclap's package ``__init__`` imports its ``CLAPWrapper``, which imports
    torchaudio (not a dependency here, and broken with CPU-only torch builds). The
    model files need only torch, torchlibrosa and transformers. So we put a bare
    package object for ``msclap`` (pointing at the installed folder) into
    ``sys.modules``, import the ``models`` subpackage through it, and then remove the
    bare package again so that a later ``import msclap`` behaves normally.
    """
    if "msclap.models.clap" in sys.modules:
        return sys.modules["msclap.models"]
    spec = importlib.util.find_spec("msclap")  # locates the folder, executes nothing
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "MS-CLAP backbones need msclap's model code: "
            "pip install --no-deps msclap==1.3.4 'skfewaudio[clap]' "
            "(--no-deps keeps it from pulling torchaudio and a CUDA torch)."
        )
    added = "msclap" not in sys.modules
    if added:
        bare = types.ModuleType("msclap")
        bare.__path__ = list(spec.submodule_search_locations)
        bare.__spec__ = spec
        sys.modules["msclap"] = bare
    try:
        importlib.import_module("msclap.models.clap")
        importlib.import_module("msclap.models.mapper")
    finally:
        if added:
            del sys.modules["msclap"]
    return sys.modules["msclap.models"]


def msclap_config(version, **overrides):
    """msclap's own configuration of a CLAP version, as a dict (with overrides)."""
    spec = importlib.util.find_spec("msclap")
    if spec is None:
        _msclap_models()  # raises the install advice
    import yaml  # a dependency of msclap

    folder = Path(list(spec.submodule_search_locations)[0])
    name = "clapcap" if version == "clapcap" else version
    config = yaml.safe_load((folder / "configs" / f"config_{name}.yml").read_text())
    config.update(overrides)
    return config


def build_msclap(config):
    """An msclap ``CLAP`` module with random audio weights, built from a config dict.

    The text encoder is created by msclap with ``AutoModel.from_pretrained``, so
    ``config["text_model"]`` (a hub name or a local folder) must be loadable.
    """
    models = _msclap_models()
    return models.clap.CLAP(
        audioenc_name=config["audioenc_name"], sample_rate=config["sampling_rate"],
        window_size=config["window_size"], hop_size=config["hop_size"],
        mel_bins=config["mel_bins"], fmin=config["fmin"], fmax=config["fmax"],
        classes_num=config["num_classes"], out_emb=config["out_emb"],
        text_model=config["text_model"],
        transformer_embed_dim=config["transformer_embed_dim"], d_proj=config["d_proj"],
    )


def _missing_weights_error(version, tried):
    name = WEIGHT_FILES[version]
    return FileNotFoundError(
        f"MS-CLAP {version} weights ({name}) were not found; looked at: "
        + "; ".join(tried) + ". "
        f"On a machine with internet run "
        f"`huggingface-cli download {HF_REPO} {name}` (or download "
        f"https://huggingface.co/{HF_REPO}/resolve/main/{name}), then either copy the "
        f"file to {weights_dir() / name} (folder set by SKFEWAUDIO_MSCLAP_DIR), "
        f"copy the Hugging Face cache folder, or pass weights='/path/to/{name}'."
    )


def resolve_weights(version, weights=None):
    """Path of the checkpoint: explicit path, then our folder, the HF cache, the hub."""
    name = WEIGHT_FILES[version]
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise _missing_weights_error(version, [f"weights={str(weights)!r} (no such file)"])
        return path
    local = weights_dir() / name
    tried = [str(local)]
    if local.is_file():
        return local
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise _missing_weights_error(version, tried) from None
    try:  # the cache first: no network call at all when the file is there
        return Path(hf_hub_download(HF_REPO, name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss means "not cached"
        tried.append(f"Hugging Face cache ({HF_REPO}/{name})")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True", "YES", "yes"):
        try:
            return Path(hf_hub_download(HF_REPO, name))
        except Exception as exc:  # noqa: BLE001 - offline, proxy, 404...
            tried.append(f"download from the hub ({type(exc).__name__})")
    raise _missing_weights_error(version, tried)


def load_msclap_checkpoint(model, path):
    """Load an msclap checkpoint (``{"model": state_dict}``) and check it fits.

    msclap itself loads with ``strict=False`` and ignores every mismatch; here a
    checkpoint missing real weights is an error (only the ``position_ids`` buffers
    that older transformers versions stored may differ).
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint["model"] if isinstance(checkpoint, dict) and "model" in checkpoint \
        else checkpoint
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    unexpected = [k for k in result.unexpected_keys if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match the MS-CLAP architecture: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})."
        )
    return model


class MSCLAPBackbone:
    """Microsoft CLAP as an :class:`AudioTextBackbone` (frozen, eval mode).

    ``version="2022"`` is the paper's backbone (CNN14 audio encoder, BERT text
    encoder, 1024-d space, 44.1 kHz, 5 s); ``"2023"`` is HTS-AT + GPT-2 (7 s).
    Clips are repeated or cut to the model's duration, as msclap does.

    Coarse embedding: msclap's own clip embedding. Fine embeddings: the audio
    encoder's last feature map averaged over frequency, each time step sent through
    the same head (for CNN14 ``fc1`` on ``max + mean`` pooling, which for one time
    step is twice its value, then the projection; for HTS-AT the projection of the
    per-time latent, whose mean is exactly the clip latent).

    Weights are looked up, in order: the ``weights`` path; the folder
    ``~/.cache/skfewaudio/msclap`` (``SKFEWAUDIO_MSCLAP_DIR``); the Hugging Face
    cache; a download from ``microsoft/msclap`` unless ``HF_HUB_OFFLINE=1``. The
    text encoder (``bert-base-uncased`` / ``gpt2``) must be loadable by
    transformers (in the Hugging Face cache when offline), or give a local folder
    with ``text_model``.

    Parameters
    ----------
    version : {"2022", "2023"}, default="2022"
    weights : path-like or None, default=None
    device : str, default="cpu"
    text_model : str or None, default=None
        Override of the text encoder name or folder.
    config : dict or None, default=None
        Overrides of msclap's configuration (for tests with small models).
    """

    def __init__(self, version="2022", *, weights=None, device="cpu", text_model=None,
                 config=None):
        if str(version) not in ("2022", "2023"):
            raise ValueError(f"MS-CLAP version must be '2022' or '2023', got {version!r}.")
        self.version = str(version)
        self.weights, self.device = weights, device
        self.text_model, self.config = text_model, dict(config or {})
        overrides = dict(self.config)
        if text_model is not None:
            overrides["text_model"] = text_model
        self.args = msclap_config(self.version, **overrides)
        self.sample_rate = int(self.args["sampling_rate"])
        self._model = None
        self._tokenizer = None
        self._text_cache = _TextCache(self._encode_text)

    def load(self):
        """Build the model and load the checkpoint (once)."""
        if self._model is not None:
            return self
        path = resolve_weights(self.version, self.weights)
        from transformers import AutoTokenizer

        text_model = self.args["text_model"]
        try:
            model = build_msclap(self.args)
            tokenizer = AutoTokenizer.from_pretrained(text_model)
        except OSError as exc:
            raise OSError(
                f"The MS-CLAP {self.version} text encoder {text_model!r} could not be "
                "loaded. Offline, put it into the Hugging Face cache first (on a "
                f"connected machine: `huggingface-cli download {text_model}`, then copy "
                "~/.cache/huggingface), or pass text_model='/local/folder'."
            ) from exc
        if "gpt" in text_model:
            tokenizer.add_special_tokens({"pad_token": "!"})  # as msclap; id 0 marks padding
        load_msclap_checkpoint(model, path)
        self._model = model.eval().to(self.device)
        for parameter in self._model.parameters():
            parameter.requires_grad_(False)
        self._tokenizer = tokenizer
        return self

    @property
    def model(self):
        """The msclap ``CLAP`` module."""
        return self.load()._model

    def embed_audio(self, waveforms):
        model = self.model
        n_samples = int(round(self.args["duration"] * self.sample_rate))
        batch = np.stack([fit_length(np.asarray(w, dtype=np.float32), n_samples)
                          for w in waveforms])
        encoder = model.audio_encoder
        captured = {}
        if self.args["audioenc_name"] == "Cnn14":
            hook = encoder.base.conv_block6.register_forward_hook(
                lambda module, inputs, output: captured.setdefault("map", output))
        else:
            hook = encoder.base.htsat.tscam_conv.register_forward_pre_hook(
                lambda module, inputs: captured.setdefault("map", inputs[0]))
        try:
            with torch.no_grad():
                coarse, _ = encoder(torch.from_numpy(batch).to(self.device))
                feature_map = captured["map"]
                if self.args["audioenc_name"] == "Cnn14":
                    # (batch, 2048, time, freq): mean over frequency as Cnn14.forward does;
                    # one time step's max + mean pooling is 2x its value.
                    steps = feature_map.mean(dim=3).transpose(1, 2)
                    steps = torch.relu(encoder.base.fc1(2.0 * steps))
                else:
                    # (batch, 768, freq bins, time): HTS-AT folds time chunks so the
                    # last axis is already time-ordered.
                    steps = feature_map.mean(dim=2).transpose(1, 2)
                fine = encoder.projection(steps)
        finally:
            hook.remove()
        return coarse.cpu(), fine.cpu()

    def _encode_text(self, texts):
        model = self.model
        text_model = self.args["text_model"]
        if "gpt" in text_model:
            texts = [t + " <|endoftext|>" for t in texts]
            keys = ("input_ids", "attention_mask")
        else:
            keys = ("input_ids", "token_type_ids", "attention_mask")
        tokens = self._tokenizer(list(texts), max_length=self.args.get("text_len", 77),
                                 padding="max_length", truncation=True, return_tensors="pt")
        tokens = {k: tokens[k].to(self.device) for k in keys if k in tokens}
        with torch.no_grad():
            return model.caption_encoder(tokens).cpu()

    def embed_text(self, texts):
        return self._text_cache(list(texts))

    def __getstate__(self):
        state = self.__dict__.copy()  # the model reloads from the checkpoint on demand
        state.update(_model=None, _tokenizer=None, _text_cache=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._text_cache = _TextCache(self._encode_text)

    def __repr__(self):
        return f"MSCLAPBackbone(version={self.version!r}, weights={self.weights!r})"
