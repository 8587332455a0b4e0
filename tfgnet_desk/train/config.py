"""Training configuration: one JSON file per stage and profile (``configs/<profile>/<stage>.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STAGES = ("clip", "vae", "codebook", "transformer", "fidelity", "joint")


@dataclass
class TrainConfig:
    """Hyper-parameters shared by every stage; stage-specific ones live in ``params``."""

    stage: str
    profile: str = "tiny"
    batch_size: int = 32  # global batch (all processes, all accumulation steps together)
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 50
    schedule: str = "cosine"  # cosine | constant
    min_lr_ratio: float = 0.1
    max_steps: int = 1000
    grad_clip: float = 1.0
    mixed_precision: str = "no"  # no | fp16 | bf16 (GPU only)
    checkpoint_minutes: float = 3.0
    sample_every: int = 200
    log_every: int = 10
    image_size: int = 128
    seed: int = 0
    init: dict[str, str] = field(default_factory=dict)  # component -> exported folder of an earlier stage
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {self.stage!r}")
        self.betas = tuple(self.betas)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: Path | str) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
