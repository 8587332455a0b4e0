"""The methods that run the evaluated model (``restorer``, ``text-only``, ``tfgnet``, ablations).

One :class:`ModelRunner` per model folder. ``tfgnet`` goes through the app's own ``TFGNetPipeline``
(built without an identity encoder: the evaluation scores outputs itself, with its own backends, so the
pipeline's per-candidate scoring is skipped). The other rows call the same pipeline's public stages:

- ``restorer``: ``pipe.restore`` (framing, codebook/transformer restorer, fusion with the evidence);
- ``text-only``: ``pipe.condition(prompt, None, seed)`` (the prompt embedding with no stacked ID
  embedding) -> ``pipe.generate`` with the same seed, steps, guidance and strength as ``tfgnet``; for
  strength < 1 it starts, as ``tfgnet`` does, from the noised latent of the restored face (no identity
  guidance);
- the flip test's edited descriptions: ``pipe.condition`` per text, the images denoised together.

``tfgnet`` makes ``candidates`` (K) candidates per case in one pipeline call, candidate i with seed
``seed * 100003 + case number + i`` (the pipeline's rule: case seed + i), so candidate 0 is the one a
one-candidate run makes; ``text-only`` makes one, with the case seed. Both also generate from an edited
description (``generate_text``, the flip test): one image, the case seed, everything else the same.
With ``face_box`` (fractions of the side)
the evidence face is framed from landmarks fitted in that box rather than from a detector, as an analyst
adjusting the face box would; benchmark inputs all share one crop, so the box is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.cases import BenchmarkCase
from tfgnet_desk.evaluate.methods import Method, case_seed


@dataclass
class GenerationSettings:
    seed: int = 0
    steps: int | None = None  # None: the pipeline's default
    guidance: float | None = None
    face_box: tuple[float, float, float, float] | None = None
    # Low-frequency fusion sigmas (evidence_fusion.py); None: the profile's default, 0: off.
    restore_fusion: float | None = None
    candidate_fusion: float | None = None
    fidelity: float | None = None  # the restorer's w; None: the model's default (config.fidelity)
    identity_guidance: float | None = None  # model/id_guidance.py; None: the profile's default, 0: off


class ModelRunner:
    """A loaded model folder and its pipeline, with a one-case cache of the restored face."""

    def __init__(self, folder: Path, settings: Any, gen: GenerationSettings) -> None:
        from tfgnet_desk.model.tfgnet import TFGNet
        from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline

        self.folder = Path(folder)
        self.gen = gen
        self.settings = settings
        device = settings.resolved_device() if settings is not None else "cpu"
        self.model = TFGNet.from_pretrained(self.folder, device=device)
        self.pipe = TFGNetPipeline(self.model, settings, identity_encoder=None)
        defaults = GenerationRequest(images=[], prompt="")
        self.steps = gen.steps if gen.steps is not None else defaults.steps
        self.guidance = gen.guidance if gen.guidance is not None else defaults.guidance
        self.default_strength = float(defaults.strength)
        resolved = self.pipe.resolve_defaults(
            GenerationRequest(
                images=[],
                prompt="",
                restore_fusion=gen.restore_fusion,
                candidate_fusion=gen.candidate_fusion,
                fidelity=gen.fidelity,
                identity_guidance=gen.identity_guidance,
            )
        )
        self.restore_fusion = float(resolved.restore_fusion)
        self.candidate_fusion = float(resolved.candidate_fusion)
        self.fidelity = float(resolved.fidelity)
        self.identity_guidance = float(resolved.identity_guidance)
        self._restored: tuple[str, Any] | None = None  # (case id, RestoredFaces)

    @property
    def manifest_hash(self) -> str | None:
        return getattr(self.model, "manifest_hash", None)

    def _box(self, case: BenchmarkCase) -> tuple[int, int, int, int] | None:
        if self.gen.face_box is None:
            return None
        h, w = case.lq.shape[:2]
        x0, y0, x1, y1 = self.gen.face_box
        return (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))

    def _strength(self, strength: float | None) -> float:
        return self.default_strength if strength is None else float(strength)

    def generation_description(self, strength: float | None) -> dict[str, Any]:
        """How this runner generates (for a method's ``describe``): fusion, strength, steps, model."""
        return {
            "restore_fusion": self.restore_fusion,
            "candidate_fusion": self.candidate_fusion,
            "fidelity": self.fidelity,
            "identity_guidance": self.identity_guidance,
            "strength": self._strength(strength),
            "steps": self.steps,
            "guidance": self.guidance,
            "model": str(self.folder),
        }

    def generate(
        self, case: BenchmarkCase, strength: float | None, n: int = 1, prompt: str | None = None
    ) -> list[np.ndarray]:
        """The whole method through the app's pipeline: ``n`` candidates (seeds case seed + i), from
        ``prompt`` (default: the case's description)."""
        from tfgnet_desk.pipeline import GenerationRequest

        box = self._box(case)
        req = GenerationRequest(
            images=[case.lq],
            prompt=case.text if prompt is None else prompt,
            n_candidates=int(n),
            seed=case_seed(self.gen.seed, case),
            steps=self.steps,
            guidance=self.guidance,
            strength=self._strength(strength),
            face_boxes=[box] if box is not None else None,
            restore_fusion=self.restore_fusion,
            candidate_fusion=self.candidate_fusion,
            fidelity=self.fidelity,
            identity_guidance=self.identity_guidance,
        )
        result = self.pipe(req)
        return [np.asarray(c.image) for c in sorted(result.candidates, key=lambda c: c.index)]

    def restored_faces(self, case: BenchmarkCase) -> Any:
        """The pipeline's restore stage on the case's evidence (``RestoredFaces``), run once per case."""
        if self._restored is not None and self._restored[0] == case.case_id:
            return self._restored[1]
        box = self._box(case)
        faces = self.pipe.restore(
            [case.lq],
            [box] if box is not None else None,
            fidelity=self.fidelity,
            restore_fusion=self.restore_fusion,
        )
        self._restored = (case.case_id, faces)
        return faces

    def restore(self, case: BenchmarkCase) -> np.ndarray:
        """The restored face (framing + codebook/transformer restorer + fusion with the evidence)."""
        return self.restored_faces(case).restored[0]

    def generate_text_only(
        self, case: BenchmarkCase, strength: float | None, prompt: str | None = None
    ) -> np.ndarray:
        """The generator on the prompt alone (no stacked ID embedding), same seed, schedule and fusion;
        ``prompt`` defaults to the case's description."""
        return self.generate_batch(case, strength, [case.text if prompt is None else prompt], False)[0]

    def generate_batch(
        self, case: BenchmarkCase, strength: float | None, prompts: list[str], stacked_id: bool
    ) -> list[np.ndarray]:
        """One image per prompt, all with the case seed, denoised together (the flip test's texts), by
        the pipeline's stages. ``stacked_id``: the whole method (the stacked ID embedding, identity
        guidance; a test checks it against the pipeline); else text-only (the prompt alone, no identity
        guidance; below strength 1 it still starts from, and is fused with, the restored face)."""
        s = self._strength(strength)
        seed = case_seed(self.gen.seed, case)
        faces = self.restored_faces(case) if (s < 1.0 or stacked_id) else None
        conds = [self.pipe.condition(p, faces if stacked_id else None, seed)[0] for p in prompts]
        return self.pipe.generate(
            stack_conditions(conds),
            [seed] * len(prompts),
            faces,
            steps=self.steps,
            guidance=self.guidance,
            strength=s,
            identity_guidance=self.identity_guidance if stacked_id else 0.0,
            candidate_fusion=self.candidate_fusion,
        )

    def tiny_clip(self) -> tuple[Any, Any]:
        return _clip_of(self.model)


class Restorer(Method):
    name = "restorer"

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.restore(case)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": "codebook + transformer restorer alone (paper 3.1-3.2), CFT fidelity w",
            "restore_fusion": self.runner.restore_fusion,
            "fidelity": self.runner.fidelity,
            "model": str(self.runner.folder),
        }


class TextOnly(Method):
    name = "text-only"

    def __init__(self, runner: ModelRunner, strength: float | None) -> None:
        self.runner, self.strength = runner, strength

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.generate_text_only(case, self.strength)

    def generate_text(self, case: BenchmarkCase, text: str) -> np.ndarray:
        return self.runner.generate_text_only(case, self.strength, prompt=text)

    def generate_texts(self, case: BenchmarkCase, texts: list[str]) -> list[np.ndarray]:
        return self.runner.generate_batch(case, self.strength, texts, stacked_id=False)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": "generator on the prompt alone, no stacked ID embedding",
            **self.runner.generation_description(self.strength),
        }


class TFGNetMethod(Method):
    def __init__(
        self, runner: ModelRunner, strength: float | None, name: str = "tfgnet", candidates: int = 1
    ) -> None:
        self.runner, self.strength, self.name = runner, strength, name
        self.candidates = max(1, int(candidates))

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.generate(case, self.strength)[0]

    def run_candidates(self, case: BenchmarkCase) -> list[np.ndarray]:
        return self.runner.generate(case, self.strength, n=self.candidates)

    def generate_text(self, case: BenchmarkCase, text: str) -> np.ndarray:
        return self.runner.generate(case, self.strength, n=1, prompt=text)[0]

    def generate_texts(self, case: BenchmarkCase, texts: list[str]) -> list[np.ndarray]:
        return self.runner.generate_batch(case, self.strength, texts, stacked_id=True)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": "the whole method (TFGNetPipeline)",
            **self.runner.generation_description(self.strength),
            "manifest_hash": self.runner.manifest_hash,
            "candidates": self.candidates,
            "seed_rule": "candidate i: seed * 100003 + case number + i",
        }


def stack_conditions(conds: list[Any]) -> Any:
    """Conditionings of several prompts (each batch 1, same token count) as one batch, in order."""
    import torch

    from tfgnet_desk.model.generator import Conditioning

    def cat(parts: list[Any]) -> Any:
        return None if parts[0] is None else torch.cat(parts)

    if len(conds) == 1:
        return conds[0]
    return Conditioning(
        embeds=cat([c.embeds for c in conds]),
        mask=cat([c.mask for c in conds]),
        pooled=cat([c.pooled for c in conds]),
        time_ids=cat([c.time_ids for c in conds]),
    )


def _clip_of(model: Any) -> tuple[Any, Any] | None:
    """(image encoder, last text encoder) of a loaded ``TFGNet``: the tiny CLIP used as fallback backbone;
    None when its ID encoder is not a CLIP vision tower (the faceres ID encoder shares no space with the
    text encoder, so CLIP-I/T, LPIPS and FID need their reference weights instead)."""
    from tfgnet_desk.model.embed import is_clip_vision

    if not is_clip_vision(model.image_encoder):
        return None
    return model.image_encoder, model.text_encoders[-1]


def load_tiny_clip(folder: Path, settings: Any = None) -> tuple[Any, Any] | None:
    """The model folder's own CLIP encoders, or None when the folder holds no TFGNet model or no CLIP
    vision tower."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    from tfgnet_desk.model.tfgnet import TFGNet

    return _clip_of(TFGNet.from_pretrained(folder))
