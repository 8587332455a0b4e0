"""One module per training stage; each defines a ``TrainStage`` subclass (see ``base.py``)."""

from __future__ import annotations

from pathlib import Path

from tfgnet_desk.train.config import TrainConfig
from tfgnet_desk.train.data import FaceSource


def build_stage(cfg: TrainConfig, source: FaceSource, out_root: Path):
    """The stage named by ``cfg.stage``, its modules built (and initialised from earlier stages)."""
    if cfg.stage == "clip":
        from tfgnet_desk.train.stages.clip import ClipStage as cls
    elif cfg.stage == "vae":
        from tfgnet_desk.train.stages.vae import VAEStage as cls
    elif cfg.stage == "codebook":
        from tfgnet_desk.train.stages.codebook import CodebookStage as cls
    elif cfg.stage == "transformer":
        from tfgnet_desk.train.stages.transformer import TransformerStage as cls
    elif cfg.stage == "fidelity":
        from tfgnet_desk.train.stages.fidelity import FidelityStage as cls
    elif cfg.stage == "joint":
        from tfgnet_desk.train.stages.joint import JointStage as cls
    else:
        raise ValueError(f"unknown stage {cfg.stage!r}")
    return cls(cfg, source, out_root)
