"""The decoder fine-tune of the ``vae`` stage: the encoder (the latent space the UNet was trained on)
and the scaling factor stay; only the decoder learns; ``assemble --vae`` refuses a VAE that differs."""

from __future__ import annotations

import json

import pytest
import torch

from tests.train_helpers import SMALL_VAE, run, small_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _vae(folder):
    from diffusers import AutoencoderKL

    from tfgnet_desk.train.checkpoint import load_component

    cfg = json.loads((folder / "vae.json").read_text())
    return load_component(AutoencoderKL.from_config(cfg), folder / "vae.safetensors"), cfg


def test_decoder_only_keeps_the_latent_space_and_learns_with_the_faceres_teacher(tmp_path):
    run(small_config("vae", max_steps=1, sample_every=1), tmp_path / "base")
    base = tmp_path / "base" / "vae" / "export"
    before, base_cfg = _vae(base)
    assert base_cfg["scaling_factor"] != 1.0  # set from the latents' spread by the first run
    cfg = small_config(
        "vae",
        max_steps=2,
        sample_every=2,
        lr=1e-2,
        init={"vae": str(base / "vae.safetensors")},
        params={
            "vae_config": str(base / "vae.json"),
            "decoder_only": True,
            "perceptual_weight": 0.0,
            "faceres_perceptual_weight": 0.1,
            "faceres_identity_weight": 0.1,
            "teacher_size": 64,
        },
    )
    res = run(cfg, tmp_path / "ft")
    assert res.step == 2 and {"l1", "id_faceres", "perceptual_faceres"} <= set(res.last_logs)
    assert "kl" not in res.last_logs and "perceptual" not in res.last_logs
    after, after_cfg = _vae(tmp_path / "ft" / "vae" / "export")
    assert after_cfg["scaling_factor"] == base_cfg["scaling_factor"]
    b, a = before.state_dict(), after.state_dict()
    changed = {k for k in b if not torch.equal(b[k], a[k])}
    assert changed and all(k.startswith(("decoder.", "post_quant_conv.")) for k in changed)
    assert any(k.startswith("decoder.") for k in changed)


def test_decoder_only_needs_a_trained_vae(tmp_path):
    from tfgnet_desk.train.stages.vae import VAEStage

    cfg = small_config("vae", params={"vae": SMALL_VAE, "decoder_only": True})
    with pytest.raises(ValueError, match="decoder_only needs a trained VAE"):
        VAEStage(cfg, None, tmp_path)


def test_assemble_swaps_only_a_vae_of_the_same_latent_space(tmp_path):
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.train.assemble import swap_vae
    from tfgnet_desk.train.checkpoint import save_component

    model = TFGNet.random("tiny", seed=0)
    other = TFGNet.random("tiny", seed=1)
    same = tmp_path / "same"
    save_component(other.vae, same / "vae.safetensors")
    (same / "vae.json").write_text(json.dumps(dict(other.vae.config)))
    swap_vae(model, same / "vae.safetensors")
    w = "decoder.conv_out.weight"
    assert torch.equal(model.vae.state_dict()[w], other.vae.state_dict()[w])
    moved = tmp_path / "moved"
    save_component(other.vae, moved / "vae.safetensors")
    (moved / "vae.json").write_text(json.dumps({**dict(other.vae.config), "scaling_factor": 0.5}))
    with pytest.raises(ValueError, match="scaling_factor"):
        swap_vae(model, moved / "vae.safetensors")
