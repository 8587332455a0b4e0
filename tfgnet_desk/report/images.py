"""Pictures for the case report: the evidence at its own pixels, an annotated copy with the face box, and
candidates stamped SYNTHETIC. Every picture is embedded losslessly: the PDF writer's painter has
``QPainter.RenderHint.LosslessImageRendering`` set, so Qt writes the pixels Flate-compressed, never as
JPEG (``DCTDecode``).

Evidence (``evidence_picture``): the stored pixels, never smoothed. A picture smaller than its slot is
enlarged only by a whole-number factor by pixel repetition (nearest neighbour: each stored pixel becomes a
k x k block of the same colour, so no colour appears that is not in the evidence); one larger than its slot
is embedded at its own pixels and shown smaller (zoom in the PDF viewer to see every pixel); one too large
to embed in full (more than ``MAX_EMBED_PIXELS``) is reduced by a whole-number factor (the mean of each
f x f block). ``EvidencePicture.note`` says which of these was done, and the report prints it beside the
picture. Nothing is drawn on the evidence picture: the recorded face box is shown on a separate copy
(``annotated_copy``) that the report labels as an annotation, not evidence.

Candidates (``stamp_synthetic``): enlarged the same way (pixel repetition, whole-number factor), then
stamped with a visible SYNTHETIC band and a diagonal watermark, so that no page of the report shows a
candidate without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

SYNTHETIC_TEXT = "SYNTHETIC"
MAX_EMBED_PIXELS = 4_000_000  # an evidence image up to this size is embedded with every pixel


def to_rgb(img: np.ndarray) -> np.ndarray:
    """``img`` as a contiguous H x W x 3 uint8 array (grey images get three equal channels)."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def to_qimage(img: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage (a deep copy: the array may go away)."""
    arr = to_rgb(img)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def repeat_pixels(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole number: each pixel becomes a ``factor`` x ``factor`` block."""
    if factor <= 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def reduce_blocks(img: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each ``factor`` x ``factor`` block (blocks at the right and bottom edge may be smaller)."""
    from PIL import Image

    return np.asarray(Image.fromarray(to_rgb(img)).reduce(int(factor)))


@dataclass(frozen=True)
class EvidencePicture:
    """What the report embeds for one evidence image, and what it says about it."""

    image: QImage  # the embedded picture
    pixels: np.ndarray  # the same, as an RGB array
    factor: int  # enlargement by pixel repetition (1: none)
    reduced: int  # reduction by block mean (1: none, every stored pixel is embedded)
    width: int  # display size in document pixels (1/96 inch)
    height: int
    note: str  # printed beside the picture

    @property
    def scale(self) -> float:
        """Embedded pixels per stored pixel (for mapping the face box)."""
        return self.factor / self.reduced

    def fit(self, longest: int) -> tuple[int, int]:
        """The display size for a slot of ``longest`` document pixels (never larger than ``width`` x
        ``height``)."""
        s = min(1.0, longest / max(self.width, self.height))
        return max(1, round(self.width * s)), max(1, round(self.height * s))


def evidence_picture(img: np.ndarray, slot: int = 300, max_pixels: int = MAX_EMBED_PIXELS) -> EvidencePicture:
    """The evidence for a slot of ``slot`` document pixels (longest side): see the module docstring."""
    arr = to_rgb(img)
    h, w = arr.shape[:2]
    longest = max(h, w)
    if h * w > max_pixels:
        f = math.ceil(math.sqrt(h * w / max_pixels))
        small = reduce_blocks(arr, f)
        sh, sw = small.shape[:2]
        s = slot / max(sh, sw)
        note = (
            f"{w} x {h} pixels: too large to embed in full, reduced 1/{f} (the mean of each {f} x {f} "
            f"block of pixels) and shown smaller; the stored evidence file (SHA-256 below) holds every pixel"
        )
        return EvidencePicture(to_qimage(small), small, 1, f, round(sw * s), round(sh * s), note)
    if longest > slot:
        s = slot / longest
        note = (
            f"{w} x {h} pixels, embedded at its own pixels, lossless in this PDF; shown smaller to fit the "
            "page (zoom in to see every pixel)"
        )
        return EvidencePicture(to_qimage(arr), arr, 1, 1, round(w * s), round(h * s), note)
    k = max(1, slot // longest)
    pixels = repeat_pixels(arr, k)
    how = f", enlarged {k}x by pixel repetition (each pixel a {k} x {k} block, no smoothing)" if k > 1 else ""
    note = f"{w} x {h} pixels, shown at its own pixels{how}; lossless in this PDF"
    return EvidencePicture(to_qimage(pixels), pixels, k, 1, w * k, h * k, note)


def annotated_copy(picture: EvidencePicture, face_box: Sequence[int]) -> QImage:
    """A copy of ``picture`` with the recorded face box outlined in red (sharp, no anti-aliasing): an
    annotation for reference, shown beside the evidence, never instead of it."""
    out = to_qimage(picture.pixels).convertToFormat(QImage.Format.Format_RGB32)
    x0, y0, x1, y1 = (float(v) * picture.scale for v in face_box)
    width = max(2, round(max(out.width(), out.height()) / 120))
    p = QPainter(out)
    p.setPen(QPen(QColor(230, 20, 20), width))
    p.drawRect(QRectF(x0, y0, max(1.0, x1 - x0 - 1), max(1.0, y1 - y0 - 1)))
    p.end()
    return out


def stamp_synthetic(img: np.ndarray, size: int = 320) -> QImage:
    """The candidate enlarged by pixel repetition to about ``size`` (a whole-number factor; a larger
    candidate keeps its own pixels) with a red SYNTHETIC band at the bottom and a diagonal watermark."""
    arr = to_rgb(img)
    k = max(1, size // max(arr.shape[:2]))
    out = to_qimage(repeat_pixels(arr, k)).convertToFormat(QImage.Format.Format_RGB32)
    w, h = out.width(), out.height()
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    # diagonal watermark across the face
    p.save()
    p.translate(QPointF(w / 2, h / 2))
    p.rotate(-35)
    font = QFont("Sans Serif")
    font.setBold(True)
    font.setPixelSize(max(8, int(w / 7)))
    p.setFont(font)
    p.setPen(QColor(255, 255, 255, 110))
    p.drawText(QRectF(-w, -h / 8, 2 * w, h / 4), Qt.AlignmentFlag.AlignCenter, SYNTHETIC_TEXT)
    p.restore()
    # solid band with the label, always readable
    band = max(12, int(h / 8))
    p.fillRect(QRectF(0, h - band, w, band), QColor(200, 0, 0))
    font.setPixelSize(int(band * 0.7))
    p.setFont(font)
    p.setPen(QColor(255, 255, 255))
    p.drawText(QRectF(0, h - band, w, band), Qt.AlignmentFlag.AlignCenter, SYNTHETIC_TEXT)
    p.setPen(QPen(QColor(200, 0, 0), 3))
    p.drawRect(QRectF(1.5, 1.5, w - 3, h - 3))
    p.end()
    return out
