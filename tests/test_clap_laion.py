"""LAION CLAP through transformers.ClapModel as a MultiGrainedCLAPAdapter backbone.

A tiny random ``ClapModel`` (HTS-AT audio tower, BERT-type text tower with the
offline MiniLM tokenizer) is saved with ``save_pretrained`` and loaded by path,
offline. Its scores mean nothing; the tests check shapes, agreement with
transformers' own ``ClapModel`` outputs, determinism and the adapter's use of it.
"""

import pickle

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from skfewaudio import MultiGrainedCLAPAdapter, PretrainedEncoder, make_sounds  # noqa: E402
from skfewaudio.clap import AudioTextBackbone, LAIONCLAPBackbone, load_backbone  # noqa: E402
from skfewaudio.clap import default_descriptions  # noqa: E402
from skfewaudio.pretrained._testing import build_tiny_model, hub_reachable  # noqa: E402

DIM = 16  # projection size of the tiny model


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    return str(build_tiny_model("clap", tmp_path_factory.mktemp("clap") / "tiny-clap"))


@pytest.fixture(scope="module")
def backbone(clap_dir):
    return LAIONCLAPBackbone(clap_dir).load()


@pytest.fixture(scope="module")
def clips48k():
    rng = np.random.default_rng(0)
    return [(0.2 * rng.standard_normal(n)).astype(np.float32) for n in (48000, 20000, 90000)]


def test_follows_the_backbone_protocol(backbone, clips48k):
    assert isinstance(backbone, AudioTextBackbone) and backbone.sample_rate == 48000
    coarse, fine = backbone.embed_audio(clips48k)
    assert coarse.shape == (3, DIM)
    assert fine.ndim == 3 and fine.shape[0] == 3 and fine.shape[2] == DIM and fine.shape[1] > 1
    text = backbone.embed_text(["a frog croaks", "rain on a roof"])
    assert text.shape == (2, DIM) and not torch.allclose(text[0], text[1])
    again, _ = backbone.embed_audio(clips48k)
    torch.testing.assert_close(again, coarse, rtol=0, atol=0)  # deterministic


def test_matches_transformers_clap_outputs(backbone, clap_dir, clips48k):
    """Coarse and text embeddings are ClapModel's own (before its normalisation)."""
    extractor = transformers.AutoFeatureExtractor.from_pretrained(clap_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(clap_dir)
    model = transformers.ClapModel.from_pretrained(clap_dir).eval()
    texts = ["a frog croaks", "a dog barks loudly"]
    audio = extractor(clips48k[:2], sampling_rate=48000, return_tensors="pt")
    tokens = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                    input_features=audio["input_features"], is_longer=audio["is_longer"])
    coarse, _ = backbone.embed_audio(clips48k[:2])
    normalize = torch.nn.functional.normalize
    torch.testing.assert_close(normalize(coarse, dim=-1), out.audio_embeds, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(normalize(backbone.embed_text(texts), dim=-1), out.text_embeds,
                               atol=1e-5, rtol=1e-4)


def test_long_clips_keep_their_first_window(backbone, clips48k):
    long = clips48k[2]  # 1.9 s; the tiny model's input is 1 s
    torch.testing.assert_close(backbone.embed_audio([long])[0],
                               backbone.embed_audio([long[:48000]])[0])


def test_encoder_pooler_is_the_backbone_coarse_embedding(backbone, clap_dir, clips48k):
    encoder = PretrainedEncoder(clap_dir, sample_rate=48000, pooling="pooler")
    np.testing.assert_allclose(encoder.transform(clips48k[:2]),
                               backbone.embed_audio(clips48k[:2])[0].numpy(), atol=1e-5)


def test_unfused_model_with_a_fusion_style_extractor(clap_dir, clips48k, tmp_path):
    """A "fusion" extractor stacks 4 mels per short clip; an unfused model takes one."""
    import shutil

    folder = shutil.copytree(clap_dir, tmp_path / "fusion-extractor")
    extractor = transformers.AutoFeatureExtractor.from_pretrained(folder)
    extractor.truncation = "fusion"
    (folder / "processor_config.json").unlink()  # it would take precedence
    extractor.save_pretrained(folder)
    backbone = LAIONCLAPBackbone(str(folder)).load()
    assert backbone._audio.extractor.truncation == "fusion"
    coarse, fine = backbone.embed_audio(clips48k[:2])
    assert coarse.shape == (2, DIM) and torch.isfinite(fine).all()


def test_adapter_few_shot_and_zero_shot_by_path(clap_dir):
    X, y = make_sounds(n_classes=3, n_per_class=4, duration=0.5, random_state=0)
    clf = MultiGrainedCLAPAdapter(clap_dir, max_epochs=2, random_state=0).fit(X[::2], y[::2])
    assert isinstance(clf.backbone_, LAIONCLAPBackbone)
    proba = clf.predict_proba(X[1::2])
    assert proba.shape == (6, 3) and np.allclose(proba.sum(1), 1)
    blob = pickle.dumps(clf)
    assert b"model.safetensors" not in blob and "backbone_" not in pickle.loads(blob).__dict__
    np.testing.assert_allclose(pickle.loads(blob).predict_proba(X[1::2]), proba, atol=1e-6)
    zero_shot = MultiGrainedCLAPAdapter(
        clap_dir, class_descriptions=default_descriptions(np.unique(y))).fit(None, None)
    assert zero_shot.n_support_ == 0 and set(zero_shot.predict(X)) <= set(y)


def test_load_backbone_names_and_errors(clap_dir, tmp_path):
    assert load_backbone(clap_dir) is load_backbone(clap_dir)  # loaded once
    with pytest.raises(ValueError, match="weights=.*MS-CLAP checkpoint option"):
        load_backbone(clap_dir, weights="x.pth")
    with pytest.raises(ValueError, match="unknown backbone 'clap-9000'.*laion/clap-htsat"):
        load_backbone("clap-9000")
    ast_dir = str(build_tiny_model("ast", tmp_path / "ast"))
    with pytest.raises(ValueError, match="not a CLAP model"):
        load_backbone(ast_dir)


def test_missing_laion_model_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    X, y = make_sounds(n_classes=2, n_per_class=2, duration=0.2, random_state=0)
    with pytest.raises(OSError, match="'laion/no-such-clap'.*HF_HUB_OFFLINE=1"):
        MultiGrainedCLAPAdapter("laion/no-such-clap").fit(X, y)


@pytest.mark.network
@pytest.mark.skipif(not hub_reachable(), reason="needs the Hugging Face hub")
def test_laion_clap_from_the_hub():
    backbone = LAIONCLAPBackbone("laion/clap-htsat-unfused").load()
    coarse, fine = backbone.embed_audio([np.zeros(48000 * 3, dtype=np.float32)])
    assert coarse.shape == (1, 512) and fine.shape[2] == 512
    assert backbone.embed_text(["a frog croaks"]).shape == (1, 512)
