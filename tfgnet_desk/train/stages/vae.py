"""Stage ``vae`` (tiny profile; an addition to the paper's stages): train the small latent autoencoder.

The full profile uses SDXL's pretrained VAE. The tiny profile's ``AutoencoderKL`` (factor 4,
128x128x3 <-> 32x32x4) has no pretrained weights, so it is trained here on clean faces before the
joint stage: L1 + the perceptual term (VGG19 when available, else its labelled weight-free fallback)
+ a small KL term. At export the latent standard deviation over a fixed batch sets the config's
``scaling_factor`` (as Stable Diffusion did), so that scaled latents have unit variance.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from tfgnet_desk.model.perceptual import PerceptualLoss
from tfgnet_desk.train.checkpoint import save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid


def vae_kwargs(params: dict, image_size: int) -> dict:
    if "vae" in params:
        return dict(params["vae"])
    from tfgnet_desk.model.config import tiny_vae_kwargs

    return tiny_vae_kwargs(image_size)


class VAEStage(TrainStage):
    name = "vae"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        from diffusers import AutoencoderKL

        self.vae_config = vae_kwargs(self.p, cfg.image_size)
        self.vae = AutoencoderKL.from_config(self.vae_config)
        self.perceptual = PerceptualLoss(self.p.get("vgg_dir"), warn=False)
        self.kl_weight = float(self.p.get("kl_weight", 1e-6))
        self.perceptual_weight = float(self.p.get("perceptual_weight", 1.0))
        self._fixed: torch.Tensor | None = None

    def forward(self, batch: Batch, rand: StepRandom):
        post = self.vae.encode(batch.hq).latent_dist
        z = post.mean + post.std * rand.randn(*post.mean.shape[1:], device=batch.hq.device)
        recon = self.vae.decode(z).sample
        l1 = F.l1_loss(recon, batch.hq)
        per = self.perceptual(recon, batch.hq)
        kl = post.kl().mean() / post.mean[0].numel()
        loss = l1 + self.perceptual_weight * per + self.kl_weight * kl * post.mean[0].numel()
        return loss, {"l1": l1.detach(), "perceptual": per.detach(), "kl": kl.detach()}

    def sample_grid(self, batch: Batch):
        self._fixed = batch.hq.detach().cpu()
        recon = self.vae.decode(self.vae.encode(batch.hq).latent_dist.mean).sample
        return image_grid([batch.hq, recon.clamp(-1, 1)])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cfg = dict(self.vae_config)
        if self._fixed is not None:
            with torch.no_grad():
                z = self.vae.encode(self._fixed.to(next(self.vae.parameters()).device)).latent_dist.mean
            cfg["scaling_factor"] = round(float(1.0 / z.std()), 5)
        save_component(self.vae, folder / "vae.safetensors")
        (folder / "vae.json").write_text(json.dumps(cfg, indent=1))
