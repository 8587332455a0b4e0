"""Stage ``transformer`` (paper 3.2): predict the HQ face's code indices from the LQ face.

The restorer is initialised from stage 3.1 (LQ encoder <- HQ encoder, codebook, HQ decoder); the
codebook and the HQ decoder stay frozen, the LQ encoder and the transformer train with
L_transformer = 0.5 * CE(code logits, HQ codes) + ||Z_L - sg(Z_C)||^2 (``model.restorer.transformer_loss``).
Targets come from the frozen stage-1 autoencoder on the clean face.

Ablations: ``--no-transformer`` (nearest-code lookup of Z_L, only the L2 term and the distance-logit CE
train the encoder) and ``--no-codebook`` (no quantisation: the restorer trains end to end with L1 +
perceptual on the decoded face).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch.nn.functional as F

from tfgnet_desk.model.perceptual import PerceptualLoss
from tfgnet_desk.model.restorer import CodeFormerRestorer, code_targets, transformer_loss
from tfgnet_desk.model.vq import VQAutoEncoder
from tfgnet_desk.train.checkpoint import load_component, save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid
from tfgnet_desk.train.stages.codebook import restorer_config


class TransformerStage(TrainStage):
    name = "transformer"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        self.rcfg = restorer_config(self.p, cfg.profile)
        vq_cfg = restorer_config({k: v for k, v in self.p.items() if k != "no_codebook"}, cfg.profile)
        self.vq = VQAutoEncoder.from_config(vq_cfg)
        path = self.init_path("vq")
        if path is not None:
            load_component(self.vq, path)
        self.vq.requires_grad_(False)
        self.vq.eval()
        self.restorer = CodeFormerRestorer(self.rcfg)
        self.restorer.encoder.load_state_dict(self.vq.encoder.state_dict())
        self.restorer.generator.load_state_dict(self.vq.generator.state_dict())
        if self.rcfg.use_codebook:
            self.restorer.quantize.load_state_dict(self.vq.quantize.state_dict())
            self.restorer.freeze_for_transformer_stage()
            self.perceptual = None
        else:  # ablation: no codebook -> the whole restorer trains on pixels
            self.restorer.requires_grad_(True)
            self.perceptual = PerceptualLoss(self.p.get("vgg_dir"), warn=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.vq.eval()
        return self

    def forward(self, batch: Batch, rand: StepRandom):
        if not self.rcfg.use_codebook:
            restored, _, _ = self.restorer(batch.lq)
            l1 = F.l1_loss(restored, batch.hq)
            per = self.perceptual(restored, batch.hq)
            return l1 + per, {"l1": l1.detach(), "perceptual": per.detach()}
        logits, z_l = self.restorer.predict_logits(batch.lq)
        idx, z_c = code_targets(self.vq, batch.hq)
        loss = transformer_loss(logits, idx, z_l, z_c, beta=float(self.p.get("ce_weight", 0.5)))
        acc = (logits.argmax(-1) == idx).float().mean()
        return loss, {"code_acc": acc.detach()}

    def sample_grid(self, batch: Batch):
        restored = self.restorer(batch.lq)[0].clamp(-1, 1)
        return image_grid([batch.lq, restored, batch.hq])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_component(self.restorer, folder / "restorer.safetensors")
        (folder / "restorer.json").write_text(json.dumps(self.rcfg.to_dict(), indent=1))
