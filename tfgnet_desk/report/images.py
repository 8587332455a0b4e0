"""Pictures for the case report: evidence thumbnails with the face box, candidates stamped SYNTHETIC.

The evidence thumbnail is a scaled copy with the recorded face box outlined (an annotation drawn on the
copy; the stored evidence is never touched). Every candidate picture is stamped with a visible
SYNTHETIC band and a diagonal watermark, so that no page of the report shows a candidate without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

SYNTHETIC_TEXT = "SYNTHETIC"


def to_qimage(img: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage (a deep copy: the array may go away)."""
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8)[:, :, :3])
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _scaled(img: QImage, longest: int) -> tuple[QImage, float]:
    scale = longest / max(img.width(), img.height())
    out = img.scaled(
        max(1, round(img.width() * scale)),
        max(1, round(img.height() * scale)),
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    return out.convertToFormat(QImage.Format.Format_RGB32), scale


def evidence_thumbnail(img: np.ndarray, face_box: Sequence[int] | None, longest: int = 360) -> QImage:
    """A scaled copy of the evidence with the face box outlined in red (when one was recorded)."""
    thumb, scale = _scaled(to_qimage(img), longest)
    if face_box:
        x0, y0, x1, y1 = (float(v) * scale for v in face_box)
        p = QPainter(thumb)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(230, 20, 20), max(2.0, longest / 180)))
        p.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        p.end()
    return thumb


def stamp_synthetic(img: np.ndarray, size: int = 320) -> QImage:
    """The candidate scaled to ``size`` with a red SYNTHETIC band at the bottom and a diagonal watermark."""
    out, _ = _scaled(to_qimage(img), size)
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
