"""Stage ``vae`` (tiny profile; an addition to the paper's stages): train the small latent autoencoder.

The full profile uses SDXL's pretrained VAE. The tiny profile's ``AutoencoderKL`` (factor 4,
128x128x3 <-> 32x32x4) has no pretrained weights, so it is trained here on clean faces before the
joint stage: L1 + the perceptual term (VGG19 when available, else its labelled weight-free fallback)
+ a small KL term. At export the latent standard deviation over a fixed batch sets the config's
``scaling_factor`` (as Stable Diffusion did), so that scaled latents have unit variance.

**Decoder fine-tune** (``params.decoder_only``, ``init.vae``: a trained VAE, e.g. a model folder's): the
encoder and ``quant_conv`` stay frozen, so the latent space, the scaling factor and every UNet trained on
it stay valid, and only the decoder learns (Stable Diffusion's ft-MSE decoder did the same). The teacher
terms are faceres's (``model.face_teacher``): ``faceres_perceptual_weight`` on its intermediate features
and ``faceres_identity_weight`` on its identity features; ``perceptual_weight`` is the weight-free
fallback of ``model.perceptual``. ``vae_config`` names the JSON of the incoming VAE (its sizes).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from tfgnet_desk.model.perceptual import PerceptualLoss
from tfgnet_desk.train.checkpoint import load_component, save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid


def vae_kwargs(params: dict, image_size: int) -> dict:
    if "vae_config" in params:
        cfg = json.loads(Path(params["vae_config"]).read_text())
        return {k: v for k, v in cfg.items() if not k.startswith("_")}
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
        path = self.init_path("vae")
        if path is not None:
            load_component(self.vae, path)
        self.decoder_only = bool(self.p.get("decoder_only", False))
        if self.decoder_only:
            if path is None:
                raise ValueError("vae: decoder_only needs a trained VAE in init.vae (its latent space)")
            for part in (self.vae.encoder, self.vae.quant_conv):
                if part is not None:
                    part.requires_grad_(False)
        self.perceptual = PerceptualLoss(self.p.get("vgg_dir"), warn=False)
        self.kl_weight = float(self.p.get("kl_weight", 1e-6))
        self.perceptual_weight = float(self.p.get("perceptual_weight", 1.0))
        self.teacher_weights = {
            "perceptual": float(self.p.get("faceres_perceptual_weight", 0.0)),
            "identity": float(self.p.get("faceres_identity_weight", 0.0)),
        }
        self.teacher = None
        if any(v > 0 for v in self.teacher_weights.values()):
            from tfgnet_desk.model.face_teacher import FaceResTeacher

            self.teacher = FaceResTeacher(size=int(self.p.get("teacher_size", 224)))
        self._fixed: torch.Tensor | None = None

    def forward(self, batch: Batch, rand: StepRandom):
        with torch.set_grad_enabled(not self.decoder_only and self.training):
            post = self.vae.encode(batch.hq).latent_dist
        z = post.mean + post.std * rand.randn(*post.mean.shape[1:], device=batch.hq.device)
        recon = self.vae.decode(z).sample
        l1 = F.l1_loss(recon, batch.hq)
        loss = l1
        parts = {"l1": l1.detach()}
        if self.perceptual_weight > 0:
            per = self.perceptual(recon, batch.hq)
            loss = loss + self.perceptual_weight * per
            parts["perceptual"] = per.detach()
        if not self.decoder_only:
            kl = post.kl().mean() / post.mean[0].numel()
            loss = loss + self.kl_weight * kl * post.mean[0].numel()
            parts["kl"] = kl.detach()
        if self.teacher is not None:
            taught, taught_parts = self.teacher.weighted_terms(recon, batch.hq, self.teacher_weights)
            loss, parts = loss + taught, parts | taught_parts
        return loss, parts

    def sample_grid(self, batch: Batch):
        self._fixed = batch.hq.detach().cpu()
        recon = self.vae.decode(self.vae.encode(batch.hq).latent_dist.mean).sample
        return image_grid([batch.hq, recon.clamp(-1, 1)])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cfg = dict(self.vae_config)
        # a frozen encoder keeps the latent space, so the incoming scaling factor stays (the UNet's)
        if self._fixed is not None and not self.decoder_only:
            with torch.no_grad():
                z = self.vae.encode(self._fixed.to(next(self.vae.parameters()).device)).latent_dist.mean
            cfg["scaling_factor"] = round(float(1.0 / z.std()), 5)
        save_component(self.vae, folder / "vae.safetensors")
        (folder / "vae.json").write_text(json.dumps(cfg, indent=1))
