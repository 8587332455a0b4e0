"""TFGNet as a whole (tiny random weights): shapes at every stage, config round trip, save -> load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tfgnet_desk.model.config import TFGNetConfig
from tfgnet_desk.model.testing import save_random_model, tiny_test_config
from tfgnet_desk.model.tfgnet import TFGNet

torch.set_num_threads(1)
PROMPT = "a photo of a man with thick eyebrows"


@pytest.fixture(scope="module")
def model() -> TFGNet:
    return TFGNet.random(tiny_test_config(), seed=0)


def _id_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 128, 128, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_shapes_at_every_stage(model: TFGNet):
    lq = _id_images(2)
    restored, logits, z_l = model.restorer(lq)
    assert restored.shape == (2, 3, 128, 128) and z_l.shape[-2:] == (16, 16)
    assert logits.shape == (2, 256, model.config.restorer.codebook_size)
    text = model.encode_prompt([PROMPT])
    assert text.hidden.shape == (1, 77, 128) and text.pooled.shape == (1, 128)
    pooled, e = model.image_features(restored)
    assert pooled.shape == (2, model.config.clip.vision["hidden_size"]) and e.shape == (2, 128)
    assert model.id_embeddings(restored).shape == (2, 128)
    assert model.pseudo_text_tokens(restored).shape == (2, model.config.fusion.pseudo_text_tokens, 128)
    for n in (1, 3):
        cond, info = model.condition(PROMPT, _id_images(n))
        assert cond.embeds.shape == (1, 77 + n - 1, 128)
        assert cond.mask.shape == (1, 77 + n - 1) and bool(cond.mask.all())
        assert info["class_word"] == "man" and info["class_token_index"] == 5
        assert info["stacked_tokens"] == 77 + n - 1
    out = model.generator.sample(cond, [0], steps=2)
    assert out.shape == (1, 3, 128, 128)


def test_condition_places_fused_id_at_the_class_word(model: TFGNet):
    ids = _id_images(2, seed=3)
    with torch.no_grad():
        cond, info = model.condition(PROMPT, ids)
        text = model.encode_prompt([PROMPT])
        k = info["class_token_index"]
        fused = model.fusion.fuse_module(text.hidden[:, k : k + 1], model.id_embeddings(ids)[None])
    assert torch.allclose(cond.embeds[0, k : k + 2], fused[0], atol=1e-6)
    assert torch.equal(cond.embeds[0, :k], text.hidden[0, :k])
    assert torch.equal(cond.embeds[0, k + 2 :], text.hidden[0, k + 1 :])
    text_only, info = model.condition(PROMPT, None)
    assert text_only.embeds.shape == (1, 77, 128) and "class_word" not in info


def test_random_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = TFGNet.random(tiny_test_config(), seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = TFGNet.random(tiny_test_config(), seed=7)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_config_round_trip():
    for cfg in (TFGNetConfig.tiny(), TFGNetConfig.full(), tiny_test_config()):
        again = TFGNetConfig.from_json(cfg.to_json())
        assert again.to_dict() == cfg.to_dict()
    assert TFGNetConfig.full().face_frame == "ffhq"
    with pytest.raises(ValueError, match="cross-attention"):
        d = TFGNetConfig.tiny().to_dict()
        d["generator"]["unet"]["cross_attention_dim"] = 64
        TFGNetConfig.from_dict(d)


def test_tiny_preset_sizes():
    """Whole tiny model <= 30 M parameters; UNet ~4 M with attention only at 16x16 and 8x8."""
    model = TFGNet.on_meta("tiny")
    counts = model.parameter_counts()
    assert sum(counts.values()) <= 30_000_000
    assert 3_000_000 <= counts["unet"] <= 8_000_000
    unet = model.unet
    assert unet.config.sample_size == 32 and model.generator.vae_scale_factor == 4
    assert not hasattr(unet.down_blocks[0], "attentions")  # 32x32: no attention
    assert len(unet.down_blocks[1].attentions) and len(unet.down_blocks[2].attentions)  # 16x16, 8x8
    assert not hasattr(unet.up_blocks[2], "attentions")  # back at 32x32: none
    assert unet.config.cross_attention_dim == model.config.clip.prompt_dim == 128


def test_save_load_gives_identical_outputs(tmp_path: Path, model: TFGNet):
    folder = model.save_pretrained(tmp_path / "m", licence="test", source="test")
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (folder / "tokenizer" / "vocab.json").is_file() and (folder / "MANIFEST.json").is_file()
    assert json.loads((folder / "config.json").read_text())["profile"] == "tiny"
    loaded = TFGNet.from_pretrained(folder)
    assert loaded.manifest_hash and len(loaded.manifest_hash) == 64
    sa, sb = model.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    ids = _id_images(1)
    ca, _ = model.condition(PROMPT, ids)
    cb, _ = loaded.condition(PROMPT, ids)
    assert torch.equal(ca.embeds, cb.embeds)
    assert torch.equal(model.generator.sample(ca, [4], steps=2), loaded.generator.sample(cb, [4], steps=2))
    assert torch.equal(model.restorer.restore(ids), loaded.restorer.restore(ids))


def test_fp16_folder_loads_as_float32(tmp_path: Path):
    folder = save_random_model(tmp_path / "r", seed=1)
    again = save_random_model(tmp_path / "r2", seed=1)
    m1 = json.loads((folder / "MANIFEST.json").read_text())["manifest_hash"]
    assert m1 == json.loads((again / "MANIFEST.json").read_text())["manifest_hash"]  # deterministic
    fp16 = TFGNet.from_pretrained(folder).save_pretrained(tmp_path / "h", dtype=torch.float16)
    size32 = (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    size16 = (fp16 / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    loaded = TFGNet.from_pretrained(fp16)
    assert loaded.dtype == torch.float32
