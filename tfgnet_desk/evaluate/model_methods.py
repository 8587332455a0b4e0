"""The methods that run the evaluated model (``restorer``, ``text-only``, ``tfgnet``, ablations).

One :class:`ModelRunner` per model folder wraps ``TFGNetPipeline``; it generates one candidate per case
(seed from ``(seed, case number)``) and keeps the current case's restored face, so that ``restorer`` costs
nothing extra when ``tfgnet`` runs too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.cases import BenchmarkCase
from tfgnet_desk.evaluate.methods import Method, MethodUnavailable, case_seed


@dataclass
class GenerationSettings:
    seed: int = 0
    steps: int | None = None      # None: the pipeline's default
    guidance: float | None = None


class ModelRunner:
    """A loaded pipeline for one model folder, with a one-case cache of the restored face."""

    def __init__(self, folder: Path, settings: Any, gen: GenerationSettings) -> None:
        from tfgnet_desk.pipeline import TFGNetPipeline

        self.folder = Path(folder)
        self.gen = gen
        self.pipe = TFGNetPipeline.from_pretrained(self.folder, settings)
        self._restored: tuple[str, np.ndarray] | None = None

    def _request(self, case: BenchmarkCase, strength: float | None, **extra: Any):
        from tfgnet_desk.pipeline import GenerationRequest

        kwargs: dict[str, Any] = {"images": [case.lq], "prompt": case.text, "n_candidates": 1,
                                  "seed": case_seed(self.gen.seed, case)}
        if self.gen.steps is not None:
            kwargs["steps"] = self.gen.steps
        if self.gen.guidance is not None:
            kwargs["guidance"] = self.gen.guidance
        if strength is not None:
            kwargs["strength"] = strength
        return GenerationRequest(**kwargs, **extra)

    def generate(self, case: BenchmarkCase, strength: float | None, text_only: bool = False) -> np.ndarray:
        extra = {"use_id_embedding": False} if text_only else {}
        try:
            req = self._request(case, strength, **extra)
        except TypeError as exc:
            raise MethodUnavailable(f"the pipeline offers no text-only switch: {exc}") from exc
        result = self.pipe(req)
        if result.restored:
            self._restored = (case.case_id, np.asarray(result.restored[0]))
        return np.asarray(result.candidates[0].image)

    def restore(self, case: BenchmarkCase) -> np.ndarray:
        if self._restored is not None and self._restored[0] == case.case_id:
            return self._restored[1]
        restored = self.pipe.restore([case.lq])[0]
        self._restored = (case.case_id, np.asarray(restored))
        return self._restored[1]

    def tiny_clip(self) -> tuple[Any, Any]:
        return _clip_of(self.pipe.model)

    def default_strength(self) -> float:
        from tfgnet_desk.pipeline import GenerationRequest

        return float(GenerationRequest(images=[], prompt="").strength)


class Restorer(Method):
    name = "restorer"

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.restore(case)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "codebook + transformer restorer alone (paper 3.1-3.2)",
                "model": str(self.runner.folder)}


class TextOnly(Method):
    name = "text-only"

    def __init__(self, runner: ModelRunner, strength: float | None) -> None:
        self.runner, self.strength = runner, strength

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.generate(case, self.strength, text_only=True)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "generator on the prompt alone, no stacked ID embedding",
                "strength": self.strength, "model": str(self.runner.folder)}


class TFGNetMethod(Method):
    def __init__(self, runner: ModelRunner, strength: float | None, name: str = "tfgnet") -> None:
        self.runner, self.strength, self.name = runner, strength, name

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return self.runner.generate(case, self.strength)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "the whole method", "strength": self.strength,
                "model": str(self.runner.folder), "seed_rule": "seed * 100003 + case number"}


def _clip_of(model: Any) -> tuple[Any, Any]:
    """(image encoder, last text encoder) of a loaded ``TFGNet``: the tiny CLIP used as fallback backbone."""
    return model.image_encoder, model.text_encoders[-1]


def load_tiny_clip(folder: Path, settings: Any = None) -> tuple[Any, Any] | None:
    """The model folder's own CLIP encoders, or None when the folder holds no TFGNet model."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    from tfgnet_desk.model.tfgnet import TFGNet

    return _clip_of(TFGNet.from_pretrained(folder))
