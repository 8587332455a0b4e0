"""Stage ``fidelity``: train the restorer's CFT fuse blocks (CodeFormer's stage III), so that the
fidelity weight ``w`` in [0, 1] becomes a real "keep the evidence" control.

The restorer comes from the ``transformer`` stage (``init.restorer``). Only the fuse blocks train (and the
HQ decoder when ``train_generator``); codebook, transformer and LQ encoder stay frozen. The fuse blocks
modulate the decoder with LQ-encoder features, scaled by ``w`` (``model.restorer``); training runs at
``w = w_train`` (CodeFormer trains at 1 and interpolates at inference).

Loss: L1 to the HQ face + ``perceptual_weight`` x perceptual loss on faceres features +
``identity_weight`` x (1 - cosine of faceres identity features), the teacher of
``model.face_teacher`` (faceres never grades what it taught: the evaluation's Face Sim is dlib's).
``teacher_size`` is the side faceres sees (224 as published; smaller is cheaper).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch.nn.functional as F

from tfgnet_desk.model.face_teacher import FaceResTeacher
from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig
from tfgnet_desk.train.checkpoint import load_component, save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid
from tfgnet_desk.train.stages.codebook import restorer_config


class FidelityStage(TrainStage):
    name = "fidelity"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        path = self.init_path("restorer")
        self.rcfg = restorer_config(self.p, cfg.profile)
        if path is not None and (path.parent / "restorer.json").exists():
            self.rcfg = RestorerConfig.from_dict(json.loads((path.parent / "restorer.json").read_text()))
        if not self.rcfg.connect_list:
            raise ValueError("fidelity: the restorer has no CFT fuse blocks (connect_list is empty)")
        self.restorer = CodeFormerRestorer(self.rcfg)
        if path is not None:
            load_component(self.restorer, path)
        self.restorer.freeze_for_fidelity_stage(train_generator=bool(self.p.get("train_generator", False)))
        self.w_train = float(self.p.get("w_train", 1.0))
        self.weights = {
            "perceptual": float(self.p.get("perceptual_weight", 1.0)),
            "identity": float(self.p.get("identity_weight", 0.5)),
        }
        self.teacher = FaceResTeacher(size=int(self.p.get("teacher_size", 224)))

    def forward(self, batch: Batch, rand: StepRandom):
        restored, _, _ = self.restorer(batch.lq, w=self.w_train)
        l1 = F.l1_loss(restored, batch.hq)
        taught = self.teacher(restored, batch.hq, perceptual=self.weights["perceptual"] > 0)
        loss = l1 + self.weights["identity"] * taught["identity"]
        parts = {"l1": l1.detach(), "id_faceres": taught["identity"].detach()}
        if "perceptual" in taught:
            loss = loss + self.weights["perceptual"] * taught["perceptual"]
            parts["perceptual_faceres"] = taught["perceptual"].detach()
        return loss, parts

    def sample_grid(self, batch: Batch):
        rows = [batch.lq]
        for w in (0.0, 0.5, 1.0):
            rows.append(self.restorer.restore(batch.lq, w=w))
        return image_grid([*rows, batch.hq])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_component(self.restorer, folder / "restorer.safetensors")
        (folder / "restorer.json").write_text(json.dumps(self.rcfg.to_dict(), indent=1))
