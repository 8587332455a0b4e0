"""An image view for comparing faces pixel by pixel: zoom (wheel, +/-, fit, 1:1), pan (drag), and an
optional before/after divider between two images drawn at the same place and size.

Enlarged images are drawn nearest-neighbour: each image pixel becomes a block of identical screen
pixels, so the analyst sees the pixels that are there and nothing a smoothing filter invented. Only a
reduced image (zoom below 100 %) is drawn with smoothing, so that it does not alias.

Views can be linked (:meth:`ZoomView.link`): zooming or panning one moves the others, so that two
candidates stay side by side at the same place and scale. The link is kept in normalised image
coordinates, so images of different sizes still show the same part of the face.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from tfgnet_desk.gui.images import to_qimage

MIN_SCALE, MAX_SCALE = 0.05, 64.0
STEP = 1.25  # one wheel notch or one +/- press
GRAB = 6  # px either side of the divider that grab it (elsewhere a drag pans)
BACKGROUND = QColor("#20242a")


class ZoomView(QWidget):
    """Shows ``image`` (and with :meth:`set_after` a second image right of a vertical divider)."""

    view_changed = Signal()  # zoom or position changed (by the analyst or a linked view)
    split_changed = Signal(float)  # the divider's place, as a fraction of the view's width

    def __init__(self, parent: QWidget | None = None, name: str = "zoomView") -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.image: QImage | None = None  # left of the divider (or alone)
        self.after: QImage | None = None  # right of the divider
        self.split: float = 0.5
        self.fit_mode = True  # scale follows the view's size until the analyst zooms
        self.scale = 1.0  # screen pixels per image pixel
        self.centre = QPointF(0.5, 0.5)  # the image point at the view's centre, normalised to [0, 1]
        self._drag: QPointF | None = None
        self._dragging_split = False
        self._links: list[ZoomView] = []
        self._syncing = False

    # Content ---------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | QImage | None) -> None:
        self.image = _qimage(image)
        self._changed(keep=True)

    def set_after(self, image: np.ndarray | QImage | None) -> None:
        """The image shown right of the divider, at the same place and size as ``image``."""
        self.after = _qimage(image)
        self.update()

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self.split:
            self.split = fraction
            self.split_changed.emit(fraction)
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(360, 360)

    # Zoom and pan ----------------------------------------------------------------------------------
    def fit_scale(self) -> float:
        if self.image is None or self.image.isNull():
            return 1.0
        return max(MIN_SCALE, min(self.width() / self.image.width(), self.height() / self.image.height()))

    def current_scale(self) -> float:
        return self.fit_scale() if self.fit_mode else self.scale

    def fit(self) -> None:
        self.fit_mode = True
        self.centre = QPointF(0.5, 0.5)
        self._changed()

    def one_to_one(self) -> None:
        self.zoom_to(1.0)

    def zoom_in(self) -> None:
        self.zoom_to(self.current_scale() * STEP)

    def zoom_out(self) -> None:
        self.zoom_to(self.current_scale() / STEP)

    def zoom_to(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``scale`` keeping the image point under ``anchor`` (view coordinates; default: the
        view's centre) where it is."""
        if self.image is None or self.image.isNull():
            return
        new = min(MAX_SCALE, max(MIN_SCALE, float(scale)))
        if anchor is not None:
            before = self.to_image(anchor)
            self.fit_mode, self.scale = False, new
            after = self.to_image(anchor)
            w, h = self.image.width(), self.image.height()
            self.centre += QPointF((before.x() - after.x()) / w, (before.y() - after.y()) / h)
        else:
            self.fit_mode, self.scale = False, new
        self._changed()

    def pan(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) screen pixels."""
        if self.image is None or self.image.isNull():
            return
        s = self.current_scale()
        if self.fit_mode:
            self.fit_mode, self.scale = False, s
        self.centre -= QPointF(dx / (s * self.image.width()), dy / (s * self.image.height()))
        self._changed()

    def image_rect(self) -> QRectF:
        """Where the image lies in view coordinates (may extend past the view when zoomed in)."""
        if self.image is None or self.image.isNull():
            return QRectF()
        s = self.current_scale()
        w, h = self.image.width() * s, self.image.height() * s
        x = self.width() / 2 - self.centre.x() * w
        y = self.height() / 2 - self.centre.y() * h
        # whole screen pixels: every image pixel then covers the same number of screen pixels at 1:1
        return QRectF(round(x), round(y), w, h)

    def to_image(self, point: QPointF) -> QPointF:
        """The image pixel coordinate under a view point."""
        rect = self.image_rect()
        s = self.current_scale()
        return QPointF((point.x() - rect.x()) / s, (point.y() - rect.y()) / s)

    def zoom_text(self) -> str:
        pct = self.current_scale() * 100
        how = "nearest-neighbour: each block is one pixel" if pct > 100 else "smoothed" if pct < 100 else ""
        label = f"{pct:.0f} %" + (" (fit)" if self.fit_mode else "")
        return f"{label}, {how}" if how else label

    def link(self, other: ZoomView) -> None:
        """Zoom and pan ``other`` with this view (and back)."""
        if other is not self and other not in self._links:
            self._links.append(other)
            other._links.append(self)
            other._follow(self)

    # Painting --------------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self.image is None or self.image.isNull():
            p.setPen(QColor("#c8ced6"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "(none)")
            return
        target = self.image_rect()
        if self.after is None:
            _draw(p, target, self.image)
            return
        x = self.split_x()
        p.save()
        p.setClipRect(QRectF(0, 0, x, self.height()))
        _draw(p, target, self.image)
        p.setClipRect(QRectF(x, 0, self.width() - x, self.height()))
        _draw(p, target, self.after)
        p.restore()
        p.setPen(QPen(QColor("#ffffff"), 1))
        p.drawLine(QPointF(x - 0.5, 0), QPointF(x - 0.5, self.height()))
        p.setPen(QPen(QColor("#1f7a5a"), 1))
        p.drawLine(QPointF(x + 0.5, 0), QPointF(x + 0.5, self.height()))
        handle = QRectF(x - 5, self.height() / 2 - 14, 10, 28)
        p.fillRect(handle, QColor("#1f7a5a"))

    def split_x(self) -> int:
        return round(self.split * self.width())

    # Input -----------------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        notches = event.angleDelta().y() / 120
        if notches:
            self.zoom_to(self.current_scale() * STEP**notches, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_out()
        elif key in (Qt.Key.Key_0, Qt.Key.Key_F):
            self.fit()
        elif key == Qt.Key.Key_1:
            self.one_to_one()
        elif self.after is not None and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.set_split(self.split + (0.05 if key == Qt.Key.Key_Right else -0.05))
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging_split = self._near_split(event.position())
            self._drag = event.position()
            self.setCursor(
                Qt.CursorShape.SplitHCursor if self._dragging_split else Qt.CursorShape.ClosedHandCursor
            )
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self._drag is not None:
            if self._dragging_split:
                self.set_split(pos.x() / max(1, self.width()))
            else:
                self.pan(pos.x() - self._drag.x(), pos.y() - self._drag.y())
            self._drag = pos
        else:
            near = self._near_split(pos)
            self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._drag, self._dragging_split = None, False
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        super().mouseReleaseEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.view_changed.emit()  # the fit scale (and so the zoom text) changes with the size

    # Internals -------------------------------------------------------------------------------------
    def _near_split(self, pos: QPointF) -> bool:
        return self.after is not None and abs(pos.x() - self.split_x()) <= GRAB

    def _changed(self, keep: bool = False) -> None:
        self.update()
        self.view_changed.emit()
        if not self._syncing and not keep:
            for other in self._links:
                other._follow(self)

    def _follow(self, leader: ZoomView) -> None:
        """Take the leader's zoom and place (the same part of the face at the same screen size)."""
        if self.image is None or leader.image is None or self.image.isNull() or leader.image.isNull():
            return
        self._syncing = True
        try:
            self.fit_mode = leader.fit_mode
            self.scale = leader.current_scale() * leader.image.width() / self.image.width()
            self.centre = QPointF(leader.centre)
            self._changed()
        finally:
            self._syncing = False


def _draw(p: QPainter, target: QRectF, image: QImage) -> None:
    """``image`` stretched over ``target``: nearest-neighbour when enlarged (no smoothing: the analyst
    must see the pixels as they are), smoothed only when reduced."""
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() < image.width())
    p.drawImage(target, image, QRectF(image.rect()))


def _qimage(image: np.ndarray | QImage | None) -> QImage | None:
    if image is None:
        return None
    if isinstance(image, QImage):
        return image
    return to_qimage(np.asarray(image))
