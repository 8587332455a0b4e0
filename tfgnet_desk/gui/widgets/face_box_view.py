"""One evidence crop, shown unaltered, with the face box drawn on it and adjustable by hand.

Scene coordinates are image pixels (a large image may be drawn from a smaller copy, stretched to the
image's size: the view fits the whole image in the pane anyway). The box moves when dragged from
inside, resizes from its four corner handles, and is drawn anew by dragging anywhere outside it (the way
forward when no face was found). Arrow keys move it (Shift: 10 px); Ctrl+arrows grow or shrink it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
HANDLE_PX = 9  # on-screen size of a corner handle
MIN_BOX = 8  # smallest box side in image pixels


class FaceBoxView(QGraphicsView):
    """Image plus adjustable face box. ``box_changed`` fires when the user finishes an edit."""

    box_changed = Signal(object)  # Box | None

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("faceBoxView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip(
            "Face box: drag inside to move, drag a corner to resize, drag outside to draw a new "
            "box. Arrow keys move it, Ctrl+arrows resize."
        )
        self._pixmap_item = QGraphicsPixmapItem()
        self.scene().addItem(self._pixmap_item)
        self._rect_item = QGraphicsRectItem()
        self._rect_item.setPen(QPen(QColor("#31c48d"), 0))
        self._rect_item.setZValue(1)
        self.scene().addItem(self._rect_item)
        self._handles = [QGraphicsRectItem() for _ in range(4)]
        for h in self._handles:
            h.setPen(QPen(QColor("#0b3d2c"), 0))
            h.setBrush(QBrush(QColor("#31c48d")))
            h.setZValue(2)
            self.scene().addItem(h)
        self._size = (0, 0)
        self._box: Box | None = None
        self._drag: tuple[str, QPointF, Box | None] | None = None  # mode, press point, box at press
        self._sync_items()

    # Public API ------------------------------------------------------------------------------------
    def set_image(
        self, pixmap: QPixmap | None, box: Box | None, image_size: tuple[int, int] | None = None
    ) -> None:
        """Show ``pixmap`` (of an image of ``image_size`` (w, h) pixels; None: the pixmap's own size)."""
        if pixmap is None or pixmap.isNull():
            self._pixmap_item.setPixmap(QPixmap())
            self._size = (0, 0)
            self._box = None
        else:
            self._pixmap_item.setPixmap(pixmap)
            self._size = image_size or (pixmap.width(), pixmap.height())
            self._pixmap_item.setScale(self._size[0] / pixmap.width())
            self._box = self._clamp(box) if box else None
        self.scene().setSceneRect(QRectF(0, 0, max(1, self._size[0]), max(1, self._size[1])))
        self._sync_items()
        self._fit()

    def box(self) -> Box | None:
        return self._box

    def set_box(self, box: Box | None, notify: bool = False) -> None:
        self._box = self._clamp(box) if box else None
        self._sync_items()
        if notify:
            self.box_changed.emit(self._box)

    def has_image(self) -> bool:
        return self._size[0] > 0

    # Geometry helpers ------------------------------------------------------------------------------
    def _clamp(self, box: Box) -> Box:
        w, h = self._size
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        x0, y0 = max(0, min(x0, w - 1)), max(0, min(y0, h - 1))
        x1, y1 = max(x0 + 1, min(x1, w)), max(y0 + 1, min(y1, h))
        return (x0, y0, x1, y1)

    def _scale(self) -> float:
        return max(1e-6, self.transform().m11())

    def _corners(self, box: Box) -> list[QPointF]:
        x0, y0, x1, y1 = box
        return [QPointF(x0, y0), QPointF(x1, y0), QPointF(x1, y1), QPointF(x0, y1)]

    def _sync_items(self) -> None:
        visible = self._box is not None
        self._rect_item.setVisible(visible)
        for h in self._handles:
            h.setVisible(visible)
        if not visible:
            return
        x0, y0, x1, y1 = self._box
        self._rect_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._rect_item.setPen(QPen(QColor("#31c48d"), 2 / self._scale()))
        half = HANDLE_PX / 2 / self._scale()
        for h, c in zip(self._handles, self._corners(self._box), strict=True):
            h.setRect(QRectF(c.x() - half, c.y() - half, 2 * half, 2 * half))

    def _fit(self) -> None:
        if self.has_image():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self._sync_items()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._fit()

    # Mouse editing ---------------------------------------------------------------------------------
    def _hit(self, p: QPointF) -> str:
        if self._box is None:
            return "draw"
        tol = HANDLE_PX / self._scale()
        for i, c in enumerate(self._corners(self._box)):
            if abs(p.x() - c.x()) <= tol and abs(p.y() - c.y()) <= tol:
                return f"corner{i}"
        x0, y0, x1, y1 = self._box
        if x0 <= p.x() <= x1 and y0 <= p.y() <= y1:
            return "move"
        return "draw"

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() != Qt.MouseButton.LeftButton or not self.has_image():
            return super().mousePressEvent(event)
        p = self.mapToScene(event.position().toPoint())
        self._drag = (self._hit(p), p, self._box)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = self.mapToScene(event.position().toPoint())
        if self._drag is None:
            mode = self._hit(p) if self.has_image() else ""
            cursor = {"move": Qt.CursorShape.SizeAllCursor, "draw": Qt.CursorShape.CrossCursor}.get(
                mode,
                Qt.CursorShape.SizeFDiagCursor
                if mode in ("corner0", "corner2")
                else Qt.CursorShape.SizeBDiagCursor,
            )
            self.viewport().setCursor(cursor)
            return super().mouseMoveEvent(event)
        mode, start, box0 = self._drag
        dx, dy = p.x() - start.x(), p.y() - start.y()
        if mode == "draw":
            if abs(dx) >= 1 or abs(dy) >= 1:
                self._box = self._clamp((start.x(), start.y(), p.x(), p.y()))
        elif mode == "move" and box0 is not None:
            w, h = self._size
            bw, bh = box0[2] - box0[0], box0[3] - box0[1]
            x0 = min(max(0, box0[0] + dx), w - bw)
            y0 = min(max(0, box0[1] + dy), h - bh)
            self._box = self._clamp((x0, y0, x0 + bw, y0 + bh))
        elif mode.startswith("corner") and box0 is not None:
            i = int(mode[-1])
            opposite = self._corners(box0)[(i + 2) % 4]
            self._box = self._clamp((opposite.x(), opposite.y(), p.x(), p.y()))
        self._sync_items()
        event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._drag is None:
            return super().mouseReleaseEvent(event)
        _mode, _start, box0 = self._drag
        self._drag = None
        if self._box is not None and min(self._box[2] - self._box[0], self._box[3] - self._box[1]) < MIN_BOX:
            self._box = box0  # a click, not a drag: keep the old box
            self._sync_items()
        if self._box != box0:
            self.box_changed.emit(self._box)
        event.accept()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        arrows = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        if self._box is None or event.key() not in arrows:
            return super().keyPressEvent(event)
        dx, dy = arrows[event.key()]
        step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
        x0, y0, x1, y1 = self._box
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            new = (x0, y0, max(x0 + MIN_BOX, x1 + dx * step), max(y0 + MIN_BOX, y1 + dy * step))
        else:
            w, h = self._size
            dx = max(-x0, min(dx * step, w - x1))
            dy = max(-y0, min(dy * step, h - y1))
            new = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        self.set_box(new, notify=True)
        event.accept()
