"""``GenerationRequest``: the one description of a generation run, from the window, ``generate``,
evaluation and ``verify-run`` alike, with the record a case store keeps of it (``to_record``).

Unset (``None``) fidelity, fusion and identity-guidance values are resolved to the model's and the
profile's measured defaults by ``TFGNetPipeline.resolve_defaults``, and the resolved values are recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Version of GenerationRequest.to_record(): 2 added sampler and fidelity (records without the key: 1),
# 3 added identity_guidance (records before it: no identity guidance)
RECORD_VERSION = 3
# Fields a request may leave unset (None: resolved by the pipeline, the resolved value recorded)
DEFAULTED_LATER = ("restore_fusion", "candidate_fusion", "fidelity", "identity_guidance")


@dataclass
class GenerationRequest:
    images: list[np.ndarray]  # evidence crops, RGB uint8 (N >= 1: frames of one person)
    prompt: str  # must contain a class word ("man", "woman", ...)
    n_candidates: int = 4
    seed: int = 0  # candidate i uses seed + i (recorded)
    steps: int = 25
    guidance: float = 5.0
    strength: float = 0.6  # fidelity knob; 1.0 = pure noise as in the paper
    face_boxes: list[tuple[int, int, int, int] | None] | None = None  # x0, y0, x1, y1 per image
    reference: np.ndarray | None = None  # optional reference photo to score against
    sampler: str | None = None  # "ddim" | "dpm++"; None = the model's default
    # Low-frequency fusion with the evidence (evidence_fusion.py), Gaussian sigma in pixels, 0 = off,
    # None = the profile's default: the restored face against the framed evidence, and each candidate
    # against the restored face.
    restore_fusion: float | None = None
    candidate_fusion: float | None = None
    # The restorer's fidelity weight w (CodeFormer's CFT) in [0, 1]: 0 = the codebook alone, 1 = closest
    # to the evidence; None = the model's measured default (``config.fidelity``).
    fidelity: float | None = None
    # Identity guidance (model/id_guidance.py): the step size that pulls each denoising step towards the
    # restored face's identity, 0 = off; None = the profile's measured default.
    identity_guidance: float | None = None

    def to_record(self) -> dict[str, Any]:
        """The run parameters a case store records for this request (the window and ``generate --case``
        alike): everything but the images, the prompt (its own column) and the reference photo (an
        evidence row); ``record_version`` says which fields a record has (1: before it existed)."""
        return {
            "record_version": RECORD_VERSION,
            "n_candidates": self.n_candidates,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "strength": self.strength,
            "sampler": self.sampler,
            "face_boxes": [list(b) if b else None for b in (self.face_boxes or [])],
            "reference": self.reference is not None,
            "restore_fusion": self.restore_fusion,
            "candidate_fusion": self.candidate_fusion,
            "fidelity": self.fidelity,
            "identity_guidance": self.identity_guidance,
        }

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        *,
        images: Sequence[np.ndarray],
        prompt: str,
        reference: np.ndarray | None = None,
        resolved: Mapping[str, Any] | None = None,
    ) -> GenerationRequest:
        """The request a run recorded (``to_record()`` of any version) rebuilt with its images and prompt
        (``verify-run``): boxes as tuples; the fusion sigmas, fidelity and identity guidance the run used,
        from the record, else as the pipeline resolved them (``resolved``: the provenance's ``request``),
        else 0 for runs recorded before they existed (no fusion, the restorer at w = 0, no guidance)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"images", "prompt", "reference"}
        kwargs = {k: v for k, v in record.items() if k in names}
        boxes = kwargs.get("face_boxes")
        kwargs["face_boxes"] = [tuple(b) if b is not None else None for b in boxes] if boxes else None
        for name in DEFAULTED_LATER:
            if kwargs.get(name) is None:
                kwargs[name] = float((resolved or {}).get(name) or 0.0)
        return cls(images=list(images), prompt=prompt, reference=reference, **kwargs)

    def validate(self) -> None:
        if not self.images:
            raise ValueError("a request needs at least one evidence image")
        for i, img in enumerate(self.images):
            a = np.asarray(img)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"evidence image {i} must be RGB uint8 (H, W, 3), got {a.dtype} {a.shape}")
        if not self.prompt or not self.prompt.strip():
            raise ValueError("the description is empty; it must name the person (man, woman, ...)")
        if self.n_candidates < 1:
            raise ValueError("n_candidates must be >= 1")
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")
        for name in ("restore_fusion", "candidate_fusion"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= float(value) <= 64.0:
                raise ValueError(f"{name} must be a Gaussian sigma in [0, 64] pixels, got {value}")
        if self.identity_guidance is not None and not 0.0 <= float(self.identity_guidance) <= 4.0:
            raise ValueError(f"identity_guidance must be in [0, 4], got {self.identity_guidance}")
        if self.fidelity is not None and not 0.0 <= float(self.fidelity) <= 1.0:
            raise ValueError(f"fidelity must be in [0, 1], got {self.fidelity}")
        if self.face_boxes is not None and len(self.face_boxes) != len(self.images):
            raise ValueError("face_boxes needs one entry (or None) per evidence image")
