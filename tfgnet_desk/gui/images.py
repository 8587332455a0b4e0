"""Conversions between the project's image type (RGB ``uint8`` numpy ``(H, W, 3)``) and Qt images."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(img: np.ndarray) -> QImage:
    """An independent QImage copy of an RGB uint8 array (the array may be freed afterwards)."""
    arr = np.ascontiguousarray(img)
    if arr.ndim == 2:
        arr = np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def to_pixmap(img: np.ndarray, size: int | None = None) -> QPixmap:
    """A pixmap of ``img``, scaled smoothly to fit ``size`` x ``size`` when given."""
    pix = QPixmap.fromImage(to_qimage(img))
    if size:
        pix = pix.scaled(
            size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return pix


def qimage_to_png_bytes(image: QImage) -> bytes:
    """PNG bytes of a QImage (used for images pasted or dragged from other applications)."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())
