"""The window's "upscaled (Real-ESRGAN)" tile: what goes into the net, what the tile says, what runs where.

The tile shows the evidence's face (the square around its face box that the compare view shows, pixels
unaltered) enlarged 4x by Real-ESRGAN x4plus, the engine of Upscayl: what the usual tool would have shown
the analyst. It is an enhancement of the evidence by a third-party model, never a candidate and never
evidence; it is never scored and never offered for picking.

Time and memory stay bounded: a face square larger than :data:`MAX_INPUT_SIDE` pixels a side is reduced
to that size (area average) before the upscale, and the tile says so (:attr:`UpscaleInput.note`). On this
project's 2-core CPU a 128 px input takes 6-12 s and about 0.4 GB in the upscale child.

:func:`run_upscale` is what the upscale child (``engine/child.py``, message ``upscale``) calls; nothing
here imports torch or Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfgnet_desk.enhance.realesrgan_wheel import MODEL_TITLE

SCALE = 4
MAX_INPUT_SIDE = 128  # px: the longest side the net gets (a surveillance face is rarely larger)
TILE_TITLE = "Upscaled (Real-ESRGAN)"
TILE_LABEL = (
    f"Enhancement of the evidence by a third-party model ({MODEL_TITLE}), not a candidate, not evidence"
)
SHOW_TEXT = "Show upscaled (Real-ESRGAN)"
DEFAULT_RUNNER = "tfgnet_desk.enhance.evidence_upscale:run_upscale"


@dataclass(frozen=True)
class UpscaleInput:
    """The image the net gets and how it was made from the evidence's face square."""

    image: np.ndarray  # RGB uint8, at most MAX_INPUT_SIDE a side
    source_size: tuple[int, int]  # (height, width) of the face square it was made from

    @property
    def reduced(self) -> bool:
        return tuple(self.image.shape[:2]) != tuple(self.source_size)

    @property
    def note(self) -> str:
        """One sentence for the tile and the record: what the input is."""
        h, w = self.source_size
        ih, iw = self.image.shape[:2]
        out = f"output {SCALE * iw} x {SCALE * ih} px."
        if not self.reduced:
            return f"Input: the evidence's face, {w} x {h} px, pixels unaltered; {out}"
        return (
            f"Input: the evidence's face, {w} x {h} px, reduced to {iw} x {ih} px (area average) before "
            f"upscaling, to bound time and memory; {out}"
        )


def prepare_input(face: np.ndarray, max_side: int = MAX_INPUT_SIDE) -> UpscaleInput:
    """``face`` (RGB uint8) as the net's input: unchanged when no side exceeds ``max_side``, else reduced
    (area average, aspect kept) so that its longer side is ``max_side``."""
    img = np.ascontiguousarray(np.asarray(face, dtype=np.uint8)[..., :3])
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise ValueError(f"the evidence's face is RGB (H, W, 3), not {img.shape}")
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return UpscaleInput(img, (h, w))
    from PIL import Image

    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(img)
    factor = max(h, w) // max_side
    if factor >= 2:  # a whole-number box reduction first: fast on a large face, the same average
        small = small.reduce(factor)
    small = small.resize(size, Image.Resampling.BOX)
    return UpscaleInput(np.ascontiguousarray(np.asarray(small)), (h, w))


def run_upscale(
    image: np.ndarray, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The upscale child's job: ``image`` enlarged 4x and the model's provenance (``realesrgan_wheel``)."""
    from tfgnet_desk.enhance import realesrgan

    out = realesrgan.upscale_x4(image, progress=progress)
    return out, dict(realesrgan.provenance())
