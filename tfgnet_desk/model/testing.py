"""Random-weight TFGNet model folders for tests (GUI, case store, evaluation, training, pipeline).

``save_random_model(folder)`` writes, in about a second, a complete model folder of the tiny profile
with random weights and a valid MANIFEST.json: everything loads and runs through the real code, the
outputs are noise. ``profile="full"`` writes a *full-layout* replica: the full profile's structure (two
text encoders, SDXL's ``text_time`` added conditioning, PhotoMaker's second ID projection, penultimate
hidden states) at tiny sizes, so the full profile's loading and conditioning code is exercised on a CPU.
The signature is stable: other modules' tests depend on it.
"""

from __future__ import annotations

from pathlib import Path

from tfgnet_desk.model.config import (
    SDXL_SCHEDULE,
    TFGNetConfig,
    fusion_for,
    tiny_unet_kwargs,
    tiny_vae_kwargs,
)
from tfgnet_desk.model.embed import VOCAB_SIZE, EncoderSpec, tiny_spec
from tfgnet_desk.model.generator import GeneratorConfig
from tfgnet_desk.model.restorer import RestorerConfig

RANDOM_LICENCE = "random weights for tests (no licence needed)"


def tiny_test_config() -> TFGNetConfig:
    """The tiny profile with a smaller restorer and UNet for fast tests (same graph, same folder layout)."""
    cfg = TFGNetConfig.tiny()
    unet = dict(cfg.generator.unet)
    unet.update(
        block_out_channels=[16, 32, 32], layers_per_block=1, attention_head_dim=[1, 1, 1], norm_num_groups=8
    )
    vae = dict(cfg.generator.vae)
    vae.update(block_out_channels=[16, 16, 16], norm_num_groups=8)
    cfg.generator = GeneratorConfig(unet=unet, vae=vae, scheduler=dict(cfg.generator.scheduler))
    cfg.restorer = RestorerConfig(
        img_size=128,
        nf=16,
        ch_mult=(1, 2, 2, 2),
        res_blocks=1,
        attn_resolutions=(16,),
        codebook_size=64,
        emb_dim=32,
        dim_embd=64,
        n_head=4,
        n_layers=2,
        dim_mlp=128,
        connect_list=("32", "64"),
        norm_groups=8,
    )
    return cfg


def full_layout_tiny_config() -> TFGNetConfig:
    """The full profile's layout at tiny sizes: two text encoders (64 + 64 wide, the second projected),
    a second ID projection (vision 64 -> 64 beside CLIP's 64-wide projection), ``text_time`` added
    conditioning on the UNet and penultimate hidden states, as SDXL."""
    vision = dict(tiny_spec().vision)
    vision.update(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, projection_dim=64
    )
    text = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=64,
        hidden_act="gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    clip = EncoderSpec(vision=vision, texts=(dict(text), dict(text, projection_dim=32)), text_hidden_state=-2)
    base = tiny_test_config()
    unet = tiny_unet_kwargs(clip.prompt_dim, 32)
    unet.update(
        block_out_channels=[16, 32, 32],
        layers_per_block=1,
        attention_head_dim=[1, 1, 1],
        norm_num_groups=8,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=clip.pooled_dim + 6 * 8,
    )
    vae = tiny_vae_kwargs(128)
    vae.update(block_out_channels=[16, 16, 16], norm_num_groups=8, force_upcast=True)
    return TFGNetConfig(
        profile="full",
        image_size=128,
        restorer=base.restorer,
        clip=clip,
        fusion=fusion_for(clip),
        generator=GeneratorConfig(unet=unet, vae=vae, scheduler=dict(SDXL_SCHEDULE)),
    )


def random_model_config(profile: str = "tiny") -> TFGNetConfig:
    if profile == "tiny":
        return tiny_test_config()
    if profile == "full":
        return full_layout_tiny_config()
    raise ValueError(f"unknown profile {profile!r} (tiny or full)")


def save_random_model(folder: Path | str, profile: str = "tiny", seed: int = 0) -> Path:
    """Write a random-weight model folder (tiny sizes; ``profile`` picks the layout) and return it.

    Deterministic: the same seed writes byte-identical weights and the same manifest hash.
    """
    from tfgnet_desk.model.tfgnet import TFGNet

    model = TFGNet.random(random_model_config(profile), seed=seed)
    return model.save_pretrained(folder, licence=RANDOM_LICENCE, source=f"random init, seed {seed}")
