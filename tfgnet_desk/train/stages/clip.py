"""Stage ``clip`` (tiny profile): pre-train the small CLIP image and text encoders on this project's data.

The full profile loads a pretrained CLIP; the tiny one has none, so this stage stands in for it:
- a symmetric contrastive loss between each face and its templated caption (identical captions in a
  batch count as positives for each other, soft targets), and
- an identity term (DESIGN.md, "How identity gets through at the tiny scale"): a linear head on the
  projected image embedding is pulled towards the face's centred, unit-norm identity feature (cosine):
  dlib's descriptor, or faceres's features with ``identity_teacher: faceres`` (then dlib, the
  evaluation's scorer, teaches nothing),
  so that the embedding the fusion MLP later reads carries who the person is, not only gender, age and
  hair. The head is training-only; the embedding carries identity linearly.
- optionally (``relation_weight``) a relational distillation term: the batch's matrix of cosines
  between centred projected embeddings is pulled towards the teacher's matrix of cosines (MSE, or with
  ``relation_temperature`` > 0 a KL divergence between per-face softmaxes over the batch), so that
  the embedding's own geometry, not only a linear read-out of it, ranks faces by identity (what the
  fusion MLP and the identity AUC of ``scripts/encoder_auc.py`` see).
``clip_weight`` (default 1) scales the contrastive term against the identity terms.
``lr_mult`` (optional) scales the learning rate per part (``image_encoder``, ``text_encoder``,
``id_head``, ``logit_scale``; 0 freezes it): fine-tuning the image encoder of a shipped model against
its frozen text encoder keeps the prompt embeddings the generator was trained on.
Inputs are the clean face or its A.1-degraded version (half each, as the restored evidence at test time
lies between the two), and with probability ``noise_background`` everything outside the face region is
replaced by uniform noise, as the pipeline does before CLIP (paper 3.3).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tfgnet_desk.model import embed as E
from tfgnet_desk.train.checkpoint import load_component, save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage


def noise_background(
    x: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor, use: torch.Tensor
) -> torch.Tensor:
    """Replace pixels outside ``mask`` (B, H, W) by ``noise`` (B, 3, H, W) where ``use`` (B,) is true."""
    m = mask[:, None].to(x.dtype)
    filled = x * m + noise * (1 - m)
    return torch.where(use[:, None, None, None], filled, x)


def relation_loss(
    emb: torch.Tensor, teacher: torch.Tensor, has: torch.Tensor, temperature: float = 0.0
) -> torch.Tensor:
    """How far the batch-centred embeddings ``emb`` (B, D) rank the batch's faces unlike the (already
    centred, unit-norm) teacher features ``teacher`` (B, T), over the rows that have a teacher feature
    (``has``), a face never compared with itself; zero when fewer than three rows have one.

    ``temperature`` 0: MSE between the two cosine matrices. ``temperature`` t > 0: per face, the KL
    divergence from the teacher's softmax over the other faces (cosine / t) to the student's (cosine /
    t), which weighs each face's nearest neighbours, i.e. the ranking an identity AUC measures."""
    rows = has.nonzero().flatten()
    if len(rows) < 3:
        return emb.sum() * 0
    e = emb[rows]
    e = F.normalize(e - e.mean(0, keepdim=True), dim=-1)
    t = F.normalize(teacher[rows].to(e.dtype), dim=-1)
    off = ~torch.eye(len(rows), dtype=torch.bool, device=e.device)
    if temperature <= 0:
        return F.mse_loss((e @ e.T)[off], (t @ t.T)[off])
    n = len(rows)
    s_log = F.log_softmax((e @ e.T)[off].view(n, n - 1) / temperature, dim=1)
    t_prob = F.softmax((t @ t.T)[off].view(n, n - 1) / temperature, dim=1)
    return F.kl_div(s_log, t_prob, reduction="batchmean")


class ClipStage(TrainStage):
    name = "clip"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        enc = self.p.get("encoders")
        self.spec = E.EncoderSpec.from_dict(enc) if enc else E.spec_for(cfg.profile)
        self.image_encoder = E.build_image_encoder(self.spec)
        self.text_encoders = nn.ModuleList(E.build_text_encoders(self.spec))
        self.logit_scale = nn.Parameter(torch.tensor(float(self.p.get("init_logit_scale", 2.659))))
        # The identity teacher's dimension: 128 (dlib) or 1024 (faceres, ``identity_teacher: faceres``).
        desc = getattr(source, "desc", None)
        self.id_head = nn.Linear(self.spec.image_embed_dim, int(desc.shape[1]) if desc is not None else 128)
        self.id_weight = float(self.p.get("id_weight", 2.0))
        self.relation_weight = float(self.p.get("relation_weight", 0.0))
        self.clip_weight = float(self.p.get("clip_weight", 1.0))
        self.relation_temperature = float(self.p.get("relation_temperature", 0.0))
        self.lr_mult = {k: float(v) for k, v in dict(self.p.get("lr_mult", {})).items()}
        unknown = set(self.lr_mult) - {"image_encoder", "text_encoder", "id_head", "logit_scale"}
        if unknown:
            raise ValueError(f"clip: lr_mult names unknown parts {sorted(unknown)}")
        self.p_lq = float(self.p.get("p_lq", 0.5))
        self.p_noise = float(self.p.get("noise_background", 0.5))
        self.max_length = int(self.p.get("max_length", E.MAX_LENGTH))
        # The dlib cache may still be growing: re-read it every ``identity_refresh`` steps.
        self.source = source
        self.identity_refresh = int(self.p.get("identity_refresh", 0))
        if hasattr(source, "desc_fraction"):
            source.desc_fraction = float(self.p.get("desc_fraction", 0.0))
        for comp, mod in (("image_encoder", self.image_encoder), ("text_encoder", self.text_encoders[0])):
            path = self.init_path(comp)
            if path is not None:
                load_component(mod, path)
        for name, params in self.parts().items():  # a part with multiplier 0 is frozen
            if self.lr_mult.get(name, 1.0) <= 0:
                for p in params:
                    p.requires_grad_(False)

    def parts(self) -> dict[str, list[nn.Parameter]]:
        """The parameters of each part that ``lr_mult`` names."""
        return {
            "image_encoder": list(self.image_encoder.parameters()),
            "text_encoder": list(self.text_encoders.parameters()),
            "id_head": list(self.id_head.parameters()),
            "logit_scale": [self.logit_scale],
        }

    def param_groups(self) -> list[dict]:
        return [
            {"params": params, "lr": self.cfg.lr * self.lr_mult.get(name, 1.0), "name": name}
            for name, params in self.parts().items()
            if self.lr_mult.get(name, 1.0) > 0
        ]

    def embed(self, batch: Batch, rand: StepRandom) -> tuple[torch.Tensor, torch.Tensor]:
        dev = batch.hq.device
        use_lq = rand.rand(device=dev) < self.p_lq
        x = torch.where(use_lq[:, None, None, None], batch.lq, batch.hq)
        noise = rand.rand(*x.shape[1:], device=dev) * 2 - 1
        use_noise = rand.rand(device=dev) < self.p_noise
        x = noise_background(x, batch.mask, noise, use_noise)
        img = E.encode_images(self.image_encoder, x)
        ids, _ = E.tokenize(batch.captions, self.max_length)
        txt = E.encode_prompt_ids(
            list(self.text_encoders), ids.to(dev), None, self.spec.text_hidden_state
        ).pooled
        return img, txt

    def forward(self, batch: Batch, rand: StepRandom) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.identity_refresh and rand.step % self.identity_refresh == 0 and rand.start == 0:
            refresh = getattr(self.source, "refresh_identity", None)
            if refresh is not None and refresh():
                print(
                    f"\nclip: identity cache re-read at step {rand.step}: "
                    f"{int(self.source.has_desc.sum())} faces with descriptors",
                    flush=True,
                )
        img, txt = self.embed(batch, rand)
        i_n, t_n = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
        scale = self.logit_scale.clamp(max=4.6052).exp()
        logits = scale * i_n @ t_n.T
        same = torch.tensor(
            [[a == b for b in batch.captions] for a in batch.captions],
            dtype=logits.dtype,
            device=logits.device,
        )
        target = same / same.sum(1, keepdim=True)
        loss_clip = 0.5 * (
            torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
            + torch.sum(-target * F.log_softmax(logits.T, 1), 1).mean()
        )
        pred = F.normalize(self.id_head(img), dim=-1)
        cos = (pred * batch.desc).sum(-1)
        w = batch.has_desc.to(cos.dtype)
        loss_id = ((1 - cos) * w).sum() / w.sum().clamp(min=1)
        loss = self.clip_weight * loss_clip + self.id_weight * loss_id
        parts = {
            "clip": loss_clip.detach(),
            "id": loss_id.detach(),
            "id_cos": ((cos * w).sum() / w.sum().clamp(min=1)).detach(),
        }
        if self.relation_weight > 0:
            loss_rel = relation_loss(img, batch.desc, batch.has_desc, self.relation_temperature)
            loss = loss + self.relation_weight * loss_rel
            parts["relation"] = loss_rel.detach()
        return loss, parts

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_component(self.image_encoder, folder / "image_encoder.safetensors")
        save_component(self.text_encoders[0], folder / "text_encoder.safetensors")
        save_component(self.id_head, folder / "id_head.safetensors")
        (folder / "encoders.json").write_text(json.dumps(self.spec.to_dict(), indent=1))
