"""The MS-CLAP checkpoint loader, round-tripped through a small locally built checkpoint.

The hub is never contacted: the checkpoint has msclap's real structure (CNN14 audio
encoder, BERT-type text encoder, projections) with a small configuration (MiniLM as
the text model, 64-d shared space, 16 kHz, 2 s) and random weights.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("torchlibrosa")
pytest.importorskip("transformers")

from skfewaudio.clap import MSCLAPBackbone, MultiGrainedCLAPAdapter  # noqa: E402
from skfewaudio._hf_audio import minilm_path  # noqa: E402
from skfewaudio.clap._msclap import build_msclap, msclap_config  # noqa: E402


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    try:
        config = dict(text_model=minilm_path(), transformer_embed_dim=384, d_proj=64,
                      out_emb=128, sampling_rate=16000, duration=2, num_classes=4,
                      fmax=8000, text_len=32)
        model = build_msclap(msclap_config("2022", **config))
    except ImportError as exc:
        pytest.skip(f"msclap model code unavailable: {exc}")
    torch.manual_seed(0)
    with torch.no_grad():  # float16-exact values, so a half-precision file is lossless
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    model.eval()
    path = tmp_path_factory.mktemp("msclap") / "CLAP_weights_2022.pth"
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"model": state}, path)
    return path, config, model


def test_checkpoint_round_trip(small_checkpoint, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, config, original = small_checkpoint
    backbone = MSCLAPBackbone("2022", weights=path, config=config).load()
    for key, value in original.state_dict().items():
        torch.testing.assert_close(backbone.model.state_dict()[key], value)
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(32000).astype(np.float32),
             0.1 * rng.standard_normal(12000).astype(np.float32)]  # repeated to 2 s
    coarse, fine = backbone.embed_audio(clips)
    assert coarse.shape == (2, 64) and fine.shape[0] == 2 and fine.shape[2] == 64
    assert fine.shape[1] >= 2  # 2 s of CNN14 frames pooled 32x in time
    padded = torch.from_numpy(np.stack([clips[0], np.tile(clips[1], 3)[:32000]]))
    with torch.no_grad():
        expected, _ = original.audio_encoder(padded)
    torch.testing.assert_close(coarse, expected, rtol=1e-4, atol=1e-5)
    text = backbone.embed_text(["a dog barks", "rain on a roof"])
    assert text.shape == (2, 64)
    assert not torch.allclose(text[0], text[1])


def test_checkpoint_with_wrong_structure_is_rejected(small_checkpoint, tmp_path):
    path, config, original = small_checkpoint
    state = torch.load(path, weights_only=True)["model"]
    del state["audio_encoder.projection.linear1.weight"]
    broken = tmp_path / "broken.pth"
    torch.save({"model": state}, broken)
    with pytest.raises(ValueError, match="missing keys"):
        MSCLAPBackbone("2022", weights=broken, config=config).load()


def test_adapter_on_the_loaded_checkpoint(small_checkpoint):
    path, config, _ = small_checkpoint
    backbone = MSCLAPBackbone("2022", weights=path, config=config)
    rng = np.random.default_rng(1)
    X = (0.1 * rng.standard_normal((6, 8000))).astype(np.float32)  # 0.5 s at 16 kHz
    y = np.array(["a", "b", "c"] * 2)
    clf = MultiGrainedCLAPAdapter(backbone, sample_rate=16000, max_epochs=1).fit(X, y)
    assert clf.predict_proba(X).shape == (6, 3)
