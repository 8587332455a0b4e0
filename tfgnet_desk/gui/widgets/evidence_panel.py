"""Evidence: the crops of one run (frames of the same person), their face boxes, a reference photo.

Files and images dragged from other applications can be dropped anywhere on the panel; the panel only
turns drops into intents (``files_dropped``, ``image_data_dropped``); the main window loads them off the
GUI thread. Each crop is shown unaltered with its face box; "no face found" is a normal state whose
way forward (draw the box) is written under the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.gui.images import qimage_to_png_bytes, to_pixmap
from tfgnet_desk.gui.messages import NOT_ANALYSED
from tfgnet_desk.gui.widgets.analysis_bar import AnalysisBar
from tfgnet_desk.gui.widgets.face_box_view import Box, FaceBoxView

THUMB = 72
EMPTY_TEXT = "Drop a crop here, press Ctrl+O to open one, or Ctrl+V to paste."
# The reference photo's role, said where it is shown: it changes no candidate, it only adds a score.
REFERENCE_ROLE = "Known person to compare against (scores only)"
REFERENCE_TIP = (
    "Optional photo of a known person. It does not change the candidates (a run with it makes the same "
    "images as one without): each candidate only gets a second score, its similarity to this person."
)


@dataclass
class EvidenceItem:
    """One crop as the GUI holds it (the case store keeps the read-only original)."""

    key: str  # unique within the window (the store's evidence id when stored)
    name: str
    image: np.ndarray
    box: Box | None = None
    detected_box: Box | None = None
    method: str = ""  # detector that found the box, "" when none / by hand
    use: bool = True
    store_id: object = None
    extra: dict = field(default_factory=dict)
    display: np.ndarray | None = None  # a smaller copy to draw a large image from (None: the image)

    def shown(self) -> np.ndarray:
        return self.image if self.display is None else self.display

    def state_text(self) -> str:
        if self.box is None and self.method == NOT_ANALYSED:
            return "Not analysed (face search cancelled). Drag on the image to draw the face box."
        if self.box is None:
            return "No face found. Drag on the image to draw the face box."
        if self.detected_box is not None and self.box == self.detected_box:
            return f"Face found ({self.method or 'detector'}). Drag the corners to adjust."
        return "Face box set by hand."


def _mime_images(mime) -> tuple[list[Path], bytes | None]:
    paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
    data = None
    if not paths and mime.hasImage():
        image = mime.imageData()
        if image is not None and not image.isNull():
            data = qimage_to_png_bytes(image)
    return paths, data


class EvidencePanel(QWidget):
    """Crop strip, face box editor and reference photo; accepts drops."""

    files_dropped = Signal(list)  # list[Path]
    image_data_dropped = Signal(bytes)
    open_requested = Signal()
    reference_requested = Signal()
    reference_cleared = Signal()
    box_changed = Signal(str, object)  # key, Box | None
    remove_requested = Signal(str, object)  # key, the EvidenceItem taken out of the strip
    selection_changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("evidencePanel")
        self.setAcceptDrops(True)
        self.items: dict[str, EvidenceItem] = {}
        self.reference: np.ndarray | None = None
        self._accepting = True  # False while no case is open: no crops, reference or drops
        title = QLabel("Evidence (drop crops here)", objectName="paneTitle")
        self.strip = QListWidget(objectName="evidenceStrip")
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(THUMB, THUMB))
        self.strip.setFixedHeight(THUMB + 36)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setToolTip("Crops used in the next run (tick to include). Del removes the selected crop.")
        self.strip.currentItemChanged.connect(self._show_current)
        self.strip.itemChanged.connect(self._check_changed)
        self.add_button = QPushButton("Add crop…", objectName="addEvidence")
        self.add_button.setToolTip("Open image files (Ctrl+O); paste with Ctrl+V or drop files here")
        self.add_button.clicked.connect(self.open_requested)
        self.remove_button = QPushButton("Remove", objectName="removeEvidence")
        self.remove_button.clicked.connect(self._remove_current)
        self.reset_button = QPushButton("Reset box", objectName="resetBox")
        self.reset_button.setToolTip("Back to the detected face box")
        self.reset_button.clicked.connect(self._reset_box)
        self.analysis_bar = AnalysisBar()  # the item being read or searched for a face, with Cancel
        self.view = FaceBoxView()
        self.view.setMinimumSize(180, 120)  # the panel fits a 1366x768 screen; the splitter gives more
        self.view.box_changed.connect(self._box_edited)
        self.state = QLabel(
            EMPTY_TEXT,
            objectName="evidenceState",
            wordWrap=True,
        )
        self.ref_thumb = QLabel(objectName="referenceThumb")
        self.ref_thumb.setFixedSize(48, 48)
        self.ref_button = QPushButton("Add reference…", objectName="addReference")
        self.ref_button.setToolTip(REFERENCE_TIP)
        self.ref_button.clicked.connect(self.reference_requested)
        self.ref_clear = QPushButton("Clear", objectName="clearReference")
        self.ref_clear.clicked.connect(self.clear_reference)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        ref = QHBoxLayout()
        role = QLabel(REFERENCE_ROLE, objectName="referenceRole")
        role.setWordWrap(True)
        role.setToolTip(REFERENCE_TIP)
        self.ref_thumb.setToolTip(REFERENCE_TIP)
        ref.addWidget(role)
        ref.addWidget(self.ref_thumb)
        ref.addWidget(self.ref_button)
        ref.addWidget(self.ref_clear)
        ref.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 6)
        col.setSpacing(4)
        col.addWidget(title)
        col.addWidget(self.strip)
        col.addLayout(buttons)
        col.addWidget(self.analysis_bar)
        col.addWidget(self.view, 1)
        col.addWidget(self.state)
        col.addLayout(ref)
        self._refresh_buttons()

    # Items -----------------------------------------------------------------------------------------
    def add_item(self, item: EvidenceItem) -> None:
        self.items[item.key] = item
        entry = QListWidgetItem(to_pixmap(item.shown(), THUMB), item.name[:14])
        entry.setData(Qt.UserRole, item.key)
        entry.setToolTip(item.name)
        entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        entry.setCheckState(Qt.CheckState.Checked if item.use else Qt.CheckState.Unchecked)
        self.strip.addItem(entry)
        self.strip.setCurrentItem(entry)
        self._refresh_buttons()
        self.selection_changed.emit()

    def clear(self) -> None:
        self.items.clear()
        self.strip.clear()
        self.view.set_image(None, None)
        self.state.setText(EMPTY_TEXT)
        self.clear_reference()
        self._refresh_buttons()

    def set_accepting(self, accepting: bool, reason: str = "") -> None:
        """Whether the evidence may change: crops and a reference photo added (by button, drop or
        paste) or removed, face boxes drawn; ``reason`` is shown in the empty panel when it may not (no
        case open, or a closed case shown read-only)."""
        self._accepting = accepting
        self.setAcceptDrops(accepting)
        self.add_button.setEnabled(accepting)
        self.ref_button.setEnabled(accepting)
        self.ref_clear.setEnabled(accepting and self.reference is not None)
        self.view.setEnabled(accepting)  # the face box is shown, not edited
        self._refresh_buttons()
        if not self.items:
            self.state.setText(EMPTY_TEXT if accepting else reason)

    def current_item(self) -> EvidenceItem | None:
        entry = self.strip.currentItem()
        return self.items.get(entry.data(Qt.UserRole)) if entry else None

    def used_items(self) -> list[EvidenceItem]:
        """Crops ticked for the run, in strip order."""
        out = []
        for i in range(self.strip.count()):
            entry = self.strip.item(i)
            item = self.items.get(entry.data(Qt.UserRole))
            if item is not None and entry.checkState() == Qt.CheckState.Checked:
                out.append(item)
        return out

    def set_reference(self, image: np.ndarray, display: np.ndarray | None = None) -> None:
        self.reference = image
        self.ref_thumb.setPixmap(to_pixmap(image if display is None else display, 48))
        self.ref_clear.setEnabled(self._accepting)

    def clear_reference(self) -> None:
        had = self.reference is not None
        self.reference = None
        self.ref_thumb.clear()
        self.ref_clear.setEnabled(False)
        if had:
            self.reference_cleared.emit()

    # Internals -------------------------------------------------------------------------------------
    def _refresh_buttons(self) -> None:
        has = self.strip.count() > 0
        self.remove_button.setEnabled(has and self._accepting)
        item = self.current_item()
        changed = bool(item and item.detected_box and item.box != item.detected_box)
        self.reset_button.setEnabled(changed and self._accepting)

    def _show_current(self, entry, _prev) -> None:
        item = self.items.get(entry.data(Qt.UserRole)) if entry else None
        if item is None:
            self.view.set_image(None, None)
        else:
            h, w = item.image.shape[:2]
            self.view.set_image(to_pixmap(item.shown()), item.box, (w, h))
            self.state.setText(item.state_text())
        self._refresh_buttons()

    def _check_changed(self, entry) -> None:
        item = self.items.get(entry.data(Qt.UserRole))
        if item is not None:
            item.use = entry.checkState() == Qt.CheckState.Checked
            self.selection_changed.emit()

    def _box_edited(self, box) -> None:
        item = self.current_item()
        if item is None:
            return
        first_box = item.box is None and box is not None
        item.box = box
        self.state.setText(item.state_text())
        self._refresh_buttons()
        self.box_changed.emit(item.key, box)
        entry = self.strip.currentItem()
        if first_box and not item.use and entry is not None:  # a crop without a face, now boxed: use it
            entry.setCheckState(Qt.CheckState.Checked)

    def _reset_box(self) -> None:
        item = self.current_item()
        if item is not None and item.detected_box is not None:
            self.view.set_box(item.detected_box, notify=True)

    def _remove_current(self) -> None:
        entry = self.strip.currentItem()
        if entry is None or not self._accepting:
            return
        key = entry.data(Qt.UserRole)
        self.strip.takeItem(self.strip.row(entry))
        item = self.items.pop(key, None)
        if self.strip.count() == 0:
            self.view.set_image(None, None)
        self._refresh_buttons()
        self.remove_requested.emit(key, item)
        self.selection_changed.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Delete and self.strip.hasFocus():
            self._remove_current()
            return
        super().keyPressEvent(event)

    # Drag and drop ---------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.accept_mime(event.mimeData())
        event.acceptProposedAction()

    def accept_mime(self, mime) -> bool:
        """Handle dropped or pasted mime data; returns whether it held anything usable."""
        if not self._accepting:
            return False
        paths, data = _mime_images(mime)
        if paths:
            self.files_dropped.emit(paths)
            return True
        if data:
            self.image_data_dropped.emit(data)
            return True
        return False
