"""Stage ``codebook`` (paper 3.1): learn the HQ encoder, the codebook and the HQ decoder on clean faces.

L_codebook = L1 + perceptual + adversarial + code-level (``model.vq.codebook_loss``). The patch
discriminator trains in the same backward pass: its own loss sees the reconstruction detached, and the
generator's adversarial term runs the discriminator with detached parameters (``torch.func``), so that
one optimiser and one DDP-wrapped module serve both players. The adversarial terms start at
``disc_start`` steps, when the reconstructions are no longer blank.

Ablation ``--no-codebook``: the autoencoder trains without quantisation (plain encoder -> decoder).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.func import functional_call

from tfgnet_desk.model.discriminator import PatchDiscriminator, discriminator_loss
from tfgnet_desk.model.perceptual import PerceptualLoss
from tfgnet_desk.model.restorer import RestorerConfig
from tfgnet_desk.model.vq import VQAutoEncoder, codebook_loss
from tfgnet_desk.train.checkpoint import save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid


def restorer_config(params: dict, profile: str) -> RestorerConfig:
    if "restorer" in params:
        rcfg = RestorerConfig.from_dict(params["restorer"])
    else:
        rcfg = RestorerConfig.tiny() if profile == "tiny" else RestorerConfig.full()
    if params.get("no_codebook"):
        rcfg.use_codebook = False
    if params.get("no_transformer"):
        rcfg.use_transformer = False
    return rcfg


class CodebookStage(TrainStage):
    name = "codebook"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        self.rcfg = restorer_config(self.p, cfg.profile)
        self.vq = VQAutoEncoder.from_config(self.rcfg)
        self.disc = PatchDiscriminator(
            ndf=int(self.p.get("disc_ndf", 32)), n_layers=int(self.p.get("disc_layers", 3))
        )
        self.perceptual = PerceptualLoss(self.p.get("vgg_dir"), warn=False)
        self.disc_start = int(self.p.get("disc_start", 300))
        self.w = {
            k: float(self.p.get(k, d))
            for k, d in (
                ("l1_weight", 1.0),
                ("perceptual_weight", 1.0),
                ("adversarial_weight", 0.1),
                ("code_weight", 1.0),
                ("disc_lr_mult", 1.0),
            )
        }

    def param_groups(self):
        return [
            {"params": [p for p in self.vq.parameters() if p.requires_grad]},
            {"params": list(self.disc.parameters()), "lr": self.cfg.lr * self.w["disc_lr_mult"]},
        ]

    def reconstruct(self, hq: torch.Tensor):
        if self.rcfg.use_codebook:
            return self.vq(hq)
        z = self.vq.encoder(hq)
        return self.vq.generator(z), None, z.new_zeros(())

    def forward(self, batch: Batch, rand: StepRandom):
        recon, _, code_loss = self.reconstruct(batch.hq)
        gan = rand.step >= self.disc_start
        fake_logits = None
        if gan:
            frozen = {k: v.detach() for k, v in self.disc.named_parameters()}
            fake_logits = functional_call(self.disc, frozen, (recon,))
        loss, parts = codebook_loss(
            batch.hq,
            recon,
            code_loss,
            perceptual=self.perceptual,
            fake_logits=fake_logits,
            l1_weight=self.w["l1_weight"],
            perceptual_weight=self.w["perceptual_weight"],
            adversarial_weight=self.w["adversarial_weight"],
            code_weight=self.w["code_weight"],
        )
        logs = {k: torch.tensor(v) for k, v in parts.items() if k != "total"}
        logs.setdefault("adversarial", torch.tensor(0.0))
        logs.setdefault("perceptual", torch.tensor(0.0))
        d_loss = discriminator_loss(self.disc(batch.hq), self.disc(recon.detach()))
        # Before disc_start the discriminator's loss is kept in the graph at weight 0 (DDP needs its grads).
        loss = loss + (1.0 if gan else 0.0) * d_loss
        logs["disc"] = d_loss.detach()
        return loss, logs

    def sample_grid(self, batch: Batch):
        recon = self.reconstruct(batch.hq)[0]
        return image_grid([batch.hq, recon.clamp(-1, 1)])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_component(self.vq, folder / "vq.safetensors")
        (folder / "restorer.json").write_text(json.dumps(self.rcfg.to_dict(), indent=1))
