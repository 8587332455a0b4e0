"""The full (paper-scale) profile: built on the meta device, and its layout loaded at tiny sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tfgnet_desk.model.testing import save_random_model
from tfgnet_desk.model.tfgnet import TFGNet
from tfgnet_desk.model_folders.manifest import WeightsError

torch.set_num_threads(1)

SDXL_UNET_PARAMS = 2_567_463_684  # stabilityai/stable-diffusion-xl-base-1.0 unet
CLIP_L14_VISION_PARAMS = 303_179_776  # openai/clip-vit-large-patch14 vision tower (CLIPVisionModel)


@pytest.fixture(scope="module")
def full() -> TFGNet:
    return TFGNet.on_meta("full")


def test_full_parameter_counts_match_published_models(full: TFGNet):
    counts = full.parameter_counts()
    assert abs(counts["unet"] - SDXL_UNET_PARAMS) / SDXL_UNET_PARAMS < 0.01
    vision = sum(p.numel() for p in full.image_encoder.vision_model.parameters())
    assert abs(vision - CLIP_L14_VISION_PARAMS) / CLIP_L14_VISION_PARAMS < 0.01
    assert len(full.text_encoders) == 2


def test_full_shapes_follow_sdxl_and_photomaker(full: TFGNet):
    cfg = full.config
    assert cfg.image_size == 1024 and cfg.generator.vae_scale_factor == 8
    u = full.unet.config
    assert u.cross_attention_dim == 2048 and u.addition_embed_type == "text_time"
    assert u.projection_class_embeddings_input_dim == 2816
    assert full.fusion.visual_projection_2.weight.shape == (1280, 1024)
    assert full.image_encoder.visual_projection.weight.shape == (768, 1024)
    assert full.fusion.fuse_module.mlp1.fc1.weight.shape == (2048, 4096)
    assert cfg.restorer.img_size == 512 and cfg.restorer.codebook_size == 1024
    assert cfg.restorer.code_size == 16 and cfg.restorer.n_layers == 9 and cfg.restorer.dim_embd == 512


@pytest.fixture(scope="module")
def full_layout(tmp_path_factory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("full") / "model", profile="full", seed=0)


def test_full_layout_folder_loads_and_generates(full_layout: Path):
    assert (full_layout / "text_encoder_2" / "model.safetensors").is_file()
    model = TFGNet.from_pretrained(full_layout)
    assert model.config.profile == "full" and len(model.text_encoders) == 2
    assert model.fusion.visual_projection_2 is not None
    ids = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cond, info = model.condition("a woman with red hair", ids)
    assert cond.embeds.shape == (1, 78, model.config.clip.prompt_dim)
    assert cond.pooled.shape == (1, model.config.clip.pooled_dim) and cond.time_ids.shape == (1, 6)
    out = model.generator.sample(cond, [0, 1], steps=2, strength=0.5, init_image=ids[:1])
    assert out.shape == (2, 3, 128, 128)


def test_full_layout_with_wrong_shapes_is_refused(full_layout: Path, tmp_path: Path):
    """A weight file from another architecture (re-manifested, so hashes pass) must not load."""
    import shutil

    from tfgnet_desk.model_folders.manifest import save_safetensors, write_manifest

    bad = tmp_path / "bad"
    shutil.copytree(full_layout, bad)
    save_safetensors({"weight": torch.zeros(3, 3)}, bad / "fusion" / "model.safetensors")
    write_manifest(bad, licence="x", source="y")
    with pytest.raises(WeightsError, match="does not fit the fusion"):
        TFGNet.from_pretrained(bad)


def test_corrupted_weight_file_in_model_folder_is_refused(full_layout: Path, tmp_path: Path):
    import shutil

    bad = tmp_path / "tampered"
    shutil.copytree(full_layout, bad)
    p = bad / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="unet/diffusion_pytorch_model.safetensors"):
        TFGNet.from_pretrained(bad)
