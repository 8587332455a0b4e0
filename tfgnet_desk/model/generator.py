"""Latent-diffusion generation (paper 3.5) around diffusers' UNet, VAE and schedulers.

We write our own sampling loop instead of using a diffusers pipeline so that the stacked ID embedding
(L+N-1 tokens), the per-candidate ``torch.Generator``, the ``strength`` fidelity knob, the step callback
and the cancel check are explicit and recorded.

Decisions (documented for reproducibility):
- **Classifier-free guidance** uses an all-zero unconditional embedding (and zero pooled embedding) of
  the same length as t*: that is SDXL base 1.0's ``force_zeros_for_empty_prompt``, and what joint
  training drops the condition to (``null_condition``). The guided direction is therefore "prompt and
  identity" against "nothing", as in the paper's text-to-image setting.
- **One generator per candidate**: candidate ``i`` draws its initial noise from
  ``torch.Generator('cpu').manual_seed(seed + i)``. DDIM runs with eta = 0 and DPM-Solver++ in its
  deterministic form, so that noise is the only draw. Candidates are denoised as one batch by default
  (about 30 % faster per candidate on a CPU); with ``batch_size=1`` a candidate's image depends only on
  its own seed and the request, not on how many were asked for.
- **strength** in (0, 1]: 1.0 starts from pure noise (the paper). Lower values start from the restored
  face's latent noised to the matching timestep and run only the last ``round(steps * strength)``
  steps (as diffusers' img2img does). The init latent is the VAE posterior mean (no sampling).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from tfgnet_desk.model import Cancelled

__all__ = [
    "Cancelled",
    "Conditioning",
    "GeneratorConfig",
    "LatentGenerator",
    "make_scheduler",
    "null_condition",
]

SAMPLERS = ("ddim", "dpm++")


@dataclass
class Conditioning:
    """What the UNet's cross-attention (and SDXL's added conditioning) reads for one prompt."""

    embeds: torch.Tensor  # (1, S, D): t*, the prompt embedding with the stacked ID embedding
    mask: torch.Tensor | None = None  # (1, S) 1 = attend; None = attend to every token
    pooled: torch.Tensor | None = None  # (1, P) SDXL pooled text embedding (full profile)
    time_ids: torch.Tensor | None = None  # (1, 6) SDXL size/crop conditioning (full profile)


@dataclass
class GeneratorConfig:
    """UNet / VAE / scheduler keyword arguments (diffusers configs) and the default sampler."""

    unet: dict[str, Any]
    vae: dict[str, Any]
    scheduler: dict[str, Any]
    sampler: str = "ddim"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unet": _jsonable(self.unet),
            "vae": _jsonable(self.vae),
            "scheduler": dict(self.scheduler),
            "sampler": self.sampler,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorConfig:
        return cls(
            unet=dict(d["unet"]),
            vae=dict(d["vae"]),
            scheduler=dict(d["scheduler"]),
            sampler=str(d.get("sampler", "ddim")),
            extra=dict(d.get("extra", {})),
        )

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def uses_added_cond(self) -> bool:
        return self.unet.get("addition_embed_type") == "text_time"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def build_unet(config: GeneratorConfig):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_config(dict(config.unet))


def build_vae(config: GeneratorConfig):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_config(dict(config.vae))


def make_scheduler(sampler: str, scheduler_config: dict[str, Any]):
    """DDIM (default) or DPM-Solver++ (multistep, deterministic) from the stored noise schedule."""
    if sampler == "ddim":
        from diffusers import DDIMScheduler

        return DDIMScheduler.from_config(dict(scheduler_config))
    if sampler in ("dpm++", "dpmpp", "dpm-solver++"):
        from diffusers import DPMSolverMultistepScheduler

        cfg = {k: v for k, v in scheduler_config.items() if k not in ("clip_sample", "set_alpha_to_one")}
        return DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")


def null_condition(cond: Conditioning) -> Conditioning:
    """The unconditional input for classifier-free guidance (and for condition dropout in training)."""
    return Conditioning(
        embeds=torch.zeros_like(cond.embeds),
        mask=cond.mask,
        pooled=None if cond.pooled is None else torch.zeros_like(cond.pooled),
        time_ids=cond.time_ids,
    )


def sdxl_time_ids(image_size: int, batch: int = 1, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """SDXL's added time ids: original size, crop top-left, target size (no crop, square)."""
    ids = torch.tensor([[image_size, image_size, 0, 0, image_size, image_size]], dtype=dtype, device=device)
    return ids.expand(batch, -1)


def timesteps_for(scheduler, steps: int, strength: float, device) -> torch.Tensor:
    """The timesteps to run for ``steps`` and ``strength`` (img2img's rule; at least one step)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    scheduler.set_timesteps(steps, device=device)
    init = min(max(int(round(steps * strength)), 1), steps)
    t_start = steps - init
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(t_start * scheduler.order)
    return scheduler.timesteps[t_start * scheduler.order :]


class LatentGenerator:
    """UNet + VAE + scheduler config; samples candidates for one conditioning."""

    def __init__(self, unet, vae, scheduler_config: dict[str, Any], sampler: str = "ddim") -> None:
        self.unet = unet
        self.vae = vae
        self.scheduler_config = dict(scheduler_config)
        self.sampler = sampler

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    # ----------------------------------------------------------------------------------------- VAE
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> scaled latents (posterior mean, deterministic)."""
        vae_dtype = next(self.vae.parameters()).dtype
        dist = self.vae.encode(images.to(self.device, vae_dtype)).latent_dist
        return dist.mean * self.vae.config.scaling_factor

    def encode_train(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents sampled from the posterior (with gradients off the VAE is frozen in training)."""
        vae_dtype = next(self.vae.parameters()).dtype
        with torch.no_grad():
            dist = self.vae.encode(images.to(self.device, vae_dtype)).latent_dist
            return dist.sample(generator) * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decode_differentiable(latents)

    def decode_differentiable(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images in [-1, 1], with gradients (identity guidance)."""
        vae_dtype = next(self.vae.parameters()).dtype
        out = self.vae.decode(latents.to(vae_dtype) / self.vae.config.scaling_factor).sample
        return out.float().clamp(-1, 1)

    # ---------------------------------------------------------------------------------------- UNet
    def predict_noise(self, latents: torch.Tensor, t, cond: Conditioning) -> torch.Tensor:
        """eps_theta(z_t, t, t*); a conditioning of batch 1 is shared by the whole latent batch.

        Used by sampling and by joint training (the masked diffusion loss compares it with eps).
        """
        b = latents.shape[0]

        def fit(x: torch.Tensor) -> torch.Tensor:
            return x.expand(b, *x.shape[1:]) if x.shape[0] == 1 and b > 1 else x

        kwargs: dict[str, Any] = {"encoder_hidden_states": fit(cond.embeds).to(self.device, self.dtype)}
        if cond.mask is not None and not bool(cond.mask.bool().all()):
            kwargs["encoder_attention_mask"] = fit(cond.mask).to(self.device)
        if self.unet.config.get("addition_embed_type") == "text_time":
            if cond.pooled is None or cond.time_ids is None:
                raise ValueError("this UNet needs SDXL added conditioning (pooled embedding and time ids)")
            kwargs["added_cond_kwargs"] = {
                "text_embeds": fit(cond.pooled).to(self.device, self.dtype),
                "time_ids": fit(cond.time_ids).to(self.device, self.dtype),
            }
        return self.unet(latents.to(self.device, self.dtype), t, **kwargs).sample

    def guided_noise(self, latents: torch.Tensor, t, cond: Conditioning, guidance: float) -> torch.Tensor:
        """Classifier-free guidance: eps_u + g (eps_c - eps_u), both halves in one UNet call."""
        if guidance == 1.0:
            return self.predict_noise(latents, t, cond)
        uncond = null_condition(cond)
        b = latents.shape[0]

        def pair(u: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor | None:
            if c is None:
                return None
            u = u.expand(b, *u.shape[1:]) if u.shape[0] == 1 else u
            c = c.expand(b, *c.shape[1:]) if c.shape[0] == 1 else c
            return torch.cat([u, c])

        both = Conditioning(
            embeds=pair(uncond.embeds, cond.embeds),
            mask=pair(cond.mask, cond.mask),
            pooled=pair(uncond.pooled, cond.pooled),
            time_ids=pair(cond.time_ids, cond.time_ids),
        )
        eps_u, eps_c = self.predict_noise(torch.cat([latents, latents]), t, both).chunk(2)
        return eps_u + guidance * (eps_c - eps_u)

    # ------------------------------------------------------------------------------------- sample
    @torch.no_grad()
    def sample(
        self,
        cond: Conditioning,
        seeds: Sequence[int],
        steps: int = 25,
        guidance: float = 5.0,
        strength: float = 1.0,
        image_size: int | None = None,
        init_image: torch.Tensor | None = None,
        sampler: str | None = None,
        callback: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        on_image: Callable[[int, torch.Tensor], None] | None = None,
        batch_size: int | None = None,
        guide: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One image per seed, (len(seeds), 3, H, W) in [-1, 1].

        Candidates are denoised ``batch_size`` at a time (default: all together, the fastest on a CPU);
        each one's initial noise still comes from its own generator. ``callback(done, total)`` is called
        after every step with candidate-steps done and to do; ``cancel`` is checked before every step and
        raises :class:`Cancelled`; ``on_image(i, image)`` gets each candidate as soon as it is decoded.
        ``guide`` (an :class:`~tfgnet_desk.model.id_guidance.IdentityGuide`) moves each step's predicted
        clean latent before the scheduler's step.
        """
        from diffusers.utils.torch_utils import randn_tensor

        if strength < 1.0 and init_image is None:
            raise ValueError("strength < 1 needs init_image (the restored face)")
        size = image_size or int(self.unet.config.sample_size) * self.vae_scale_factor
        if size % self.vae_scale_factor:
            raise ValueError(f"image size {size} is not a multiple of the VAE factor {self.vae_scale_factor}")
        shape = (
            1,
            int(self.unet.config.in_channels),
            size // self.vae_scale_factor,
            size // self.vae_scale_factor,
        )
        init_latents = None
        if strength < 1.0:
            img = init_image if init_image.dim() == 4 else init_image[None]
            if img.shape[-1] != size or img.shape[-2] != size:
                img = torch.nn.functional.interpolate(
                    img.float(), size=(size, size), mode="bicubic", align_corners=False, antialias=True
                ).clamp(-1, 1)
            init_latents = self.encode(img).float()
        probe = make_scheduler(sampler or self.sampler, self.scheduler_config)
        total = len(timesteps_for(probe, steps, strength, "cpu")) * len(seeds)
        chunk = max(1, int(batch_size or len(seeds)))
        done = 0
        images = []
        for start in range(0, len(seeds), chunk):
            part = [int(s) for s in seeds[start : start + chunk]]
            scheduler = make_scheduler(sampler or self.sampler, self.scheduler_config)
            timesteps = timesteps_for(scheduler, steps, strength, self.device)
            # one CPU generator per candidate seed (diffusers' randn_tensor): the same noise on any device
            noise = randn_tensor(
                (len(part), *shape[1:]),
                generator=[torch.Generator(device="cpu").manual_seed(s) for s in part],
                device=self.device,
            )
            if init_latents is None:
                latents = noise * scheduler.init_noise_sigma
            else:
                latents = scheduler.add_noise(init_latents.expand_as(noise), noise, timesteps[:1])
            for t in timesteps:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"cancelled after {done} of {total} candidate-steps")
                x_in = scheduler.scale_model_input(latents, t)
                eps = self.guided_noise(x_in, t, cond, guidance).float()
                if guide is not None:
                    from tfgnet_desk.model.id_guidance import guided_eps

                    eps = guided_eps(scheduler, latents, eps, t, guide)
                latents = scheduler.step(eps, t, latents, return_dict=False)[0]
                done += len(part)
                if callback is not None:
                    callback(done, total)
            decoded = self.decode(latents)
            for j in range(len(part)):
                images.append(decoded[j : j + 1])
                if on_image is not None:
                    on_image(start + j, decoded[j])
        return torch.cat(images)
