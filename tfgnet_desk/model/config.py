"""TFGNet configuration: one serialisable object per model, presets ``tiny()`` and ``full()``.

Both profiles are the same classes with different sizes (DESIGN.md, "Two profiles, one code path"):

- ``full``: the paper's scale. SDXL base 1.0's UNet (2.567 B parameters, 2048-wide cross-attention,
  ``text_time`` added conditioning), its VAE and both text encoders; CLIP ViT-L/14's vision tower as the
  ID encoder with PhotoMaker v1's second projection and fuse MLP; CodeFormer's 512x512 restorer.
- ``tiny``: a 2-core CPU. 128 px faces; a VAE with factor 4 (4x32x32 latents); a ~4 M-parameter UNet
  with attention only at 16x16 and 8x8 and cross-attention as wide as the tiny text encoder (128);
  the tiny restorer and CLIP encoders of ``restorer.py`` / ``embed.py``. Under 30 M parameters in all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfgnet_desk.model.embed import EncoderSpec, full_spec, tiny_spec
from tfgnet_desk.model.fusion import FusionConfig, default_class_words
from tfgnet_desk.model.generator import GeneratorConfig
from tfgnet_desk.model.restorer import RestorerConfig

CONFIG_VERSION = 1
FACE_FRAMES = ("crop", "ffhq")

# SDXL base 1.0's noise schedule (scheduler/scheduler_config.json), used by DDIM and DPM-Solver++.
SDXL_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
}


def sdxl_unet_kwargs() -> dict[str, Any]:
    """stabilityai/stable-diffusion-xl-base-1.0 ``unet/config.json`` (the keys that shape the network)."""
    return {
        "sample_size": 128,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "block_out_channels": [320, 640, 1280],
        "layers_per_block": 2,
        "transformer_layers_per_block": [1, 2, 10],
        "attention_head_dim": [5, 10, 20],  # diffusers' name for the number of heads
        "cross_attention_dim": 2048,
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,  # 1280 pooled + 6 time ids x 256
        "norm_num_groups": 32,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "act_fn": "silu",
    }


def sdxl_vae_kwargs() -> dict[str, Any]:
    """SDXL base 1.0's ``vae/config.json`` (factor 8, 4 latent channels)."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 1024,
        "scaling_factor": 0.13025,
        "force_upcast": True,
        "act_fn": "silu",
    }


def tiny_unet_kwargs(cross_attention_dim: int = 128, latent_size: int = 32) -> dict[str, Any]:
    """~4.2 M parameters, ~1.05 GFLOP per 4x32x32 sample; attention only at 16x16, 8x8 and the 8x8 mid.

    One ResNet (+ transformer) per level: two per level (6.2 M, 1.5 GFLOP) was 1.5x slower per step,
    and the 2-core CPU budget (4 candidates x 15 steps x 2 for guidance in a few seconds) decides.
    """
    return {
        "sample_size": latent_size,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "block_out_channels": [32, 64, 128],
        "layers_per_block": 1,
        "transformer_layers_per_block": 1,
        "attention_head_dim": [1, 2, 4],  # heads; 32-wide each
        "cross_attention_dim": cross_attention_dim,
        "use_linear_projection": True,
        "norm_num_groups": 16,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "act_fn": "silu",
    }


def tiny_vae_kwargs(image_size: int = 128) -> dict[str, Any]:
    """~1 M parameters, factor 4: 128x128x3 <-> 32x32x4. ``scaling_factor`` is set by training."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 3,
        "up_block_types": ["UpDecoderBlock2D"] * 3,
        "block_out_channels": [32, 64, 64],
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 16,
        "sample_size": image_size,
        "scaling_factor": 1.0,
        "act_fn": "silu",
    }


def fusion_for(clip: EncoderSpec, pseudo_text_tokens: int = 4) -> FusionConfig:
    """The fusion widths implied by the CLIP encoders (ID embedding as wide as the prompt embedding)."""
    return FusionConfig(
        vision_hidden=int(clip.vision["hidden_size"]),
        image_embed_dim=clip.image_embed_dim,
        embed_dim=clip.prompt_dim,
        pseudo_text_tokens=pseudo_text_tokens,
    )


@dataclass
class TFGNetConfig:
    """Everything needed to build a TFGNet; stored as the model folder's top-level ``config.json``."""

    profile: str
    image_size: int  # generated candidate size (the UNet's sample size x VAE factor)
    restorer: RestorerConfig
    clip: EncoderSpec
    fusion: FusionConfig
    generator: GeneratorConfig
    class_words: tuple[str, ...] = field(default_factory=default_class_words)
    id_image_noise: bool = True  # paper 3.3: background of the ID image filled with noise
    # How evidence faces are framed before restoration: "crop" = the training crops of data/crops.py
    # (tiny profile), "ffhq" = FFHQ alignment (CodeFormer / the full profile).
    face_frame: str = "crop"
    # The restorer's default fidelity weight w (CodeFormer's CFT: 0 = codebook only, 1 = closest to the
    # evidence), chosen by measurement for each trained model; a request may override it.
    fidelity: float = 0.0

    def __post_init__(self) -> None:
        self.class_words = tuple(str(w).lower() for w in self.class_words)
        self.fidelity = float(self.fidelity)
        if not 0.0 <= self.fidelity <= 1.0:
            raise ValueError(f"fidelity must be in [0, 1], got {self.fidelity}")
        if self.face_frame not in FACE_FRAMES:
            raise ValueError(f"face_frame must be one of {FACE_FRAMES}, not {self.face_frame!r}")
        cross = int(self.generator.unet["cross_attention_dim"])
        if cross != self.clip.prompt_dim or cross != self.fusion.embed_dim:
            raise ValueError(
                f"cross-attention width {cross} must equal the prompt width {self.clip.prompt_dim} "
                f"and the fused ID width {self.fusion.embed_dim}"
            )
        latent = self.image_size // self.generator.vae_scale_factor
        if latent * self.generator.vae_scale_factor != self.image_size:
            raise ValueError(f"image size {self.image_size} is not a multiple of the VAE factor")
        if self.generator.uses_added_cond:
            expect = self.clip.pooled_dim + 6 * int(self.generator.unet["addition_time_embed_dim"])
            got = int(self.generator.unet["projection_class_embeddings_input_dim"])
            if got != expect:
                raise ValueError(
                    f"added-conditioning input {got} != pooled {self.clip.pooled_dim} + 6 time ids"
                )

    # ------------------------------------------------------------------------------------- presets
    @classmethod
    def tiny(cls) -> TFGNetConfig:
        clip = tiny_spec()
        return cls(
            profile="tiny",
            image_size=128,
            restorer=RestorerConfig.tiny(),
            clip=clip,
            fusion=fusion_for(clip),
            generator=GeneratorConfig(
                unet=tiny_unet_kwargs(clip.prompt_dim, 32),
                vae=tiny_vae_kwargs(128),
                scheduler=dict(SDXL_SCHEDULE),
            ),
        )

    @classmethod
    def full(cls) -> TFGNetConfig:
        clip = full_spec()
        return cls(
            profile="full",
            image_size=1024,
            restorer=RestorerConfig.full(),
            clip=clip,
            fusion=fusion_for(clip),
            generator=GeneratorConfig(
                unet=sdxl_unet_kwargs(), vae=sdxl_vae_kwargs(), scheduler=dict(SDXL_SCHEDULE)
            ),
            face_frame="ffhq",
        )

    @classmethod
    def preset(cls, profile: str) -> TFGNetConfig:
        if profile == "tiny":
            return cls.tiny()
        if profile == "full":
            return cls.full()
        raise ValueError(f"unknown profile {profile!r} (tiny or full)")

    # ------------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "config_version": CONFIG_VERSION,
            "profile": self.profile,
            "image_size": self.image_size,
            "restorer": self.restorer.to_dict(),
            "clip": self.clip.to_dict(),
            "fusion": self.fusion.to_dict(),
            "generator": self.generator.to_dict(),
            "class_words": list(self.class_words),
            "id_image_noise": self.id_image_noise,
            "face_frame": self.face_frame,
            "fidelity": self.fidelity,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TFGNetConfig:
        version = int(d.get("config_version", CONFIG_VERSION))
        if version > CONFIG_VERSION:
            raise ValueError(
                f"config version {version} is newer than this program understands ({CONFIG_VERSION})"
            )
        return cls(
            profile=str(d["profile"]),
            image_size=int(d["image_size"]),
            restorer=RestorerConfig.from_dict(dict(d["restorer"])),
            clip=EncoderSpec.from_dict(d["clip"]),
            fusion=FusionConfig.from_dict(d["fusion"]),
            generator=GeneratorConfig.from_dict(d["generator"]),
            class_words=tuple(d.get("class_words") or default_class_words()),
            id_image_noise=bool(d.get("id_image_noise", True)),
            face_frame=str(d.get("face_frame", "crop")),
            fidelity=float(d.get("fidelity", 0.0)),
        )

    def to_json(self, path: Path | str | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> TFGNetConfig:
        p = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        return cls.from_dict(json.loads(p.read_text() if p is not None else str(text_or_path)))
