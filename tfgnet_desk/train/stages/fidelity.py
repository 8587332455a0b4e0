"""Stage ``fidelity``: train the restorer's CFT fuse blocks (CodeFormer's stage III), so that the
fidelity weight ``w`` in [0, 1] becomes a real "keep the evidence" control.

The restorer comes from the ``transformer`` stage (``init.restorer``). Only the fuse blocks train (and the
HQ decoder when ``train_generator``); codebook, transformer and LQ encoder stay frozen. ``connect_list``
(optional) sets the resolutions with fuse blocks; levels the incoming restorer lacks start as the identity
(zero-initialised modulation). CodeFormer fuses at every decoder level above the code grid; the tiny
profile's transformer stage ships 32 and 64 only, and without a full-resolution level the decoder has to
redraw every fine detail of the evidence from 64 px features. ``image_skip`` (optional) adds the
restorer's evidence skip (``model.restorer``), zero-initialised: at ``w = 1`` the untrained restorer
returns its input. The fuse blocks
modulate the decoder with LQ-encoder features, scaled by ``w`` (``model.restorer``). ``w_train`` is one
value (CodeFormer trains at 1 and interpolates at inference) or a list: each step then trains at one of
its values, drawn from (seed, step). With ``train_generator`` a list keeps both ends useful: the decoder
learns to follow the evidence at ``w = 1`` without forgetting how to decode the codebook at ``w = 0``.

Loss: L1 to the HQ face + ``perceptual_weight`` x perceptual loss on faceres features +
``identity_weight`` x (1 - cosine of faceres identity features), the teacher of
``model.face_teacher`` (faceres never grades what it taught: the evaluation's Face Sim is dlib's).
Measured on the val pool (models/tiny/MODEL_CARD.md), the faceres terms made the evidence skip trade
dlib identity for detail; the shipped recipe (configs/tiny/fidelity.json) is L1 alone, both weights 0,
and then faceres is not loaded at all.
``teacher_size`` is the side faceres sees (224 as published; smaller is cheaper).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch.nn.functional as F

from tfgnet_desk.model.face_teacher import FaceResTeacher
from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig
from tfgnet_desk.train.checkpoint import save_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid
from tfgnet_desk.train.stages.codebook import restorer_config


def load_restorer_adding(restorer: CodeFormerRestorer, path: Path, new_parts: tuple[str, ...]) -> None:
    """Load ``path`` into ``restorer``; only keys under ``new_parts`` (prefixes: fuse levels or the skip
    head this stage adds) may be missing from it (they keep their identity initialisation). Any other
    missing or unexpected key is an error."""
    from safetensors.torch import load_file

    sd = load_file(str(path))
    ref = restorer.state_dict()
    allowed = new_parts
    missing = [k for k in ref if k not in sd and not k.startswith(allowed)]
    unexpected = [k for k in sd if k not in ref]
    if missing or unexpected:
        raise ValueError(
            f"restorer weights {path} do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    restorer.load_state_dict({k: v.to(ref[k].dtype) for k, v in sd.items()}, strict=False)


class FidelityStage(TrainStage):
    name = "fidelity"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        path = self.init_path("restorer")
        self.rcfg = restorer_config(self.p, cfg.profile)
        if path is not None and (path.parent / "restorer.json").exists():
            self.rcfg = RestorerConfig.from_dict(json.loads((path.parent / "restorer.json").read_text()))
        incoming = set(self.rcfg.connect_list)
        had_skip = self.rcfg.image_skip
        if self.p.get("connect_list") is not None:
            self.rcfg = RestorerConfig.from_dict(
                {**self.rcfg.to_dict(), "connect_list": [str(s) for s in self.p["connect_list"]]}
            )
        if self.p.get("image_skip") is not None:
            skip = bool(self.p["image_skip"])
            self.rcfg = RestorerConfig.from_dict({**self.rcfg.to_dict(), "image_skip": skip})
        if not self.rcfg.connect_list:
            raise ValueError("fidelity: the restorer has no CFT fuse blocks (connect_list is empty)")
        self.restorer = CodeFormerRestorer(self.rcfg)
        if path is not None:
            new = [f"fuse_convs_dict.{s}." for s in set(self.rcfg.connect_list) - incoming]
            if self.rcfg.image_skip and not had_skip:
                new.append("skip_head.")
            load_restorer_adding(self.restorer, path, tuple(new))
        self.restorer.freeze_for_fidelity_stage(train_generator=bool(self.p.get("train_generator", False)))
        w = self.p.get("w_train", 1.0)
        self.w_choices = [float(v) for v in (w if isinstance(w, list) else [w])]
        if not self.w_choices or not all(0.0 <= v <= 1.0 for v in self.w_choices):
            raise ValueError(f"fidelity: w_train must be a value or a list of values in [0, 1], got {w!r}")
        self.l1_weight = float(self.p.get("l1_weight", 1.0))
        self.weights = {
            "perceptual": float(self.p.get("perceptual_weight", 1.0)),
            "identity": float(self.p.get("identity_weight", 0.5)),
        }
        # With both teacher weights 0 (L1 alone, the shipped recipe since session 5) faceres is not run.
        taught = any(v > 0 for v in self.weights.values())
        self.teacher = FaceResTeacher(size=int(self.p.get("teacher_size", 224))) if taught else None

    def w_at(self, seed: int, step: int) -> float:
        """The fidelity weight step ``step`` trains at (the same in every process of a run)."""
        if len(self.w_choices) == 1:
            return self.w_choices[0]
        pick = np.random.default_rng([seed, step, 77]).integers(len(self.w_choices))
        return self.w_choices[int(pick)]

    def forward(self, batch: Batch, rand: StepRandom):
        w = self.w_at(rand.seed, rand.step)
        restored, _, _ = self.restorer(batch.lq, w=w)
        l1 = F.l1_loss(restored, batch.hq)
        loss = self.l1_weight * l1
        parts = {"l1": l1.detach(), "w": l1.new_tensor(w)}
        if self.teacher is None:
            return loss, parts
        taught, taught_parts = self.teacher.weighted_terms(restored, batch.hq, self.weights)
        return loss + taught, parts | taught_parts

    def sample_grid(self, batch: Batch):
        rows = [batch.lq]
        for w in (0.0, 0.5, 1.0):
            rows.append(self.restorer.restore(batch.lq, w=w))
        return image_grid([*rows, batch.hq])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_component(self.restorer, folder / "restorer.safetensors")
        (folder / "restorer.json").write_text(json.dumps(self.rcfg.to_dict(), indent=1))
