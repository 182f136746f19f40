"""Tiny, randomly initialised audio models of the real ``transformers`` classes.

They are saved with ``save_pretrained`` (weights, config and feature extractor, plus a
tokenizer for CLAP) so that tests, scikit-learn's checks and benchmarks load them
through the same code as a hub model, offline. **Their weights are random**: they
exercise loading, windowing, pooling and caching, never accuracy.
"""

import os
import shutil
import tempfile
from pathlib import Path

import torch

__all__ = ["TINY_MODELS", "build_tiny_model", "hub_reachable", "tiny_model_path"]

# Bump when a builder changes, so cached copies are rebuilt.
_VERSION = 1


def _ast():
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    # 100 frames of 10 ms: a 1.0 s input window.
    config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_length=100, num_mel_bins=32)
    extractor = ASTFeatureExtractor(num_mel_bins=32, max_length=100)
    return ASTModel(config), extractor


def _wav2vec2():
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    # Group-normalised first convolution as in wav2vec2-base: padding would change
    # every frame, which the encoder's equal-length batches must avoid. 8 kHz input
    # exercises resampling.
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        feat_extract_norm="group", vocab_size=8)
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=8000, return_attention_mask=False)
    return Wav2Vec2Model(config), extractor


def _whisper():
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    # 2 s chunks: 200 mel frames, 100 encoder positions.
    config = WhisperConfig(
        vocab_size=64, num_mel_bins=16, d_model=32, encoder_layers=2, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_source_positions=100, max_target_positions=16,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    extractor = WhisperFeatureExtractor(feature_size=16, chunk_length=2)
    return WhisperModel(config), extractor


def _clap():
    from transformers import (AutoTokenizer, ClapConfig, ClapFeatureExtractor, ClapModel,
                              ClapProcessor)

    from .._hf_audio import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())  # BERT vocabulary, offline
    audio = dict(num_mel_bins=16, spec_size=64, window_size=4, depths=(1, 1),
                 num_attention_heads=(2, 2), patch_embeds_hidden_size=16, hidden_size=32,
                 projection_dim=16, num_classes=4, hidden_dropout_prob=0.0)
    text = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                num_attention_heads=2, intermediate_size=64, max_position_embeddings=130,
                pad_token_id=tokenizer.pad_token_id, projection_dim=16)
    config = ClapConfig(audio_config=audio, text_config=text, projection_dim=16)
    # 1 s windows at 48 kHz, as the real model's 10 s windows at 48 kHz.
    extractor = ClapFeatureExtractor(feature_size=16, max_length_s=1, frequency_max=14000,
                                     truncation="rand_trunc")
    return ClapModel(config), ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer)


TINY_MODELS = {"ast": _ast, "wav2vec2": _wav2vec2, "whisper": _whisper, "clap": _clap}


def build_tiny_model(kind, directory, *, seed=0):
    """Build the tiny ``kind`` model with seeded random weights and save it to ``directory``.

    Parameters
    ----------
    kind : {"ast", "wav2vec2", "whisper", "clap"}
    directory : path-like
        Created if missing; ``from_pretrained(directory)`` loads the result.
    seed : int, default=0

    Returns
    -------
    directory : Path
    """
    if kind not in TINY_MODELS:
        raise ValueError(f"unknown tiny model {kind!r}; choose one of {sorted(TINY_MODELS)}.")
    with torch.random.fork_rng(devices=[]):  # seeded weights, caller's stream untouched
        torch.manual_seed(seed)
        model, preprocessor = TINY_MODELS[kind]()
    directory = Path(directory)
    model.eval().save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    return directory


def tiny_model_path(kind):
    """The tiny ``kind`` model in ``~/.cache/skfewaudio/test-models``, built on first use.

    ``$SKFEWAUDIO_TEST_MODELS`` moves the folder. The model is built in a temporary
    folder and renamed into place, so parallel test workers never see half a model.
    """
    root = Path(os.environ.get("SKFEWAUDIO_TEST_MODELS",
                               Path.home() / ".cache" / "skfewaudio" / "test-models"))
    import transformers

    target = root / f"tiny-{kind}-v{_VERSION}-transformers-{transformers.__version__}"
    if not (target / "config.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
        build_tiny_model(kind, scratch)
        try:
            os.rename(scratch, target)
        except OSError:  # another process finished first
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def hub_reachable():
    """Whether the Hugging Face hub answers (False when ``HF_HUB_OFFLINE=1``)."""
    import urllib.request

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        urllib.request.urlopen("https://huggingface.co", timeout=3)
        return True
    except OSError:
        return False
