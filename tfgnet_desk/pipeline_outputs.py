"""What ``TFGNetPipeline`` hands back: candidates, the run's result, progress events, and the restore
stage's faces (``RestoredFaces``), which the later stages and evaluation take as input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.framing import PreparedFace

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.faces import IdentityScore


@dataclass
class Candidate:
    index: int
    seed: int
    image: np.ndarray  # RGB uint8, image_size x image_size
    # "evidence" (the face of evidence image 0) and "reference" (when given); see score_labels.py
    scores: dict[str, IdentityScore] = field(default_factory=dict)


@dataclass
class GenerationResult:
    candidates: list[Candidate]
    restored: list[np.ndarray]  # restored face per evidence image
    mask: np.ndarray  # identity-region mask used for the ID images (float32 (H, W) in [0, 1])
    provenance: dict[str, Any]
    # per restored face: {"evidence": score of restored[i] against the face of evidence image i}
    restored_scores: list[dict[str, IdentityScore]] = field(default_factory=list)


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # restore | embed | generate | score
    step: int
    total: int


@dataclass
class RestoredFaces:
    """The restore stage's output, per evidence image: its framing, the restored face (RGB uint8, fused
    with the evidence) and the identity-region mask (float32 (H, W), 1 inside)."""

    prepared: list[PreparedFace]
    restored: list[np.ndarray]
    masks: list[np.ndarray]
