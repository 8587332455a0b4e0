"""The evidence being analysed: its name, what is being done to it, a busy indicator and Cancel.

Reading a large photo and finding the face in it take seconds; this strip says which item it is ("Finding
the face in X…", and how many wait behind it) while it lasts and lets the analyst stop that item's
analysis. It hides when the analysis worker is idle.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton

CANCEL_TIP = (
    "Stop the analysis of this image. It stays in the case, unticked and not analysed: draw its face box "
    "by hand to use it."
)


class AnalysisBar(QFrame):
    """Shown while an evidence item is read or searched for a face; ``cancel_requested(token)``."""

    cancel_requested = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("analysisBar")
        self.token: int | None = None
        self.label = QLabel(objectName="analysisText", wordWrap=True)
        self.busy = QProgressBar(objectName="analysisBusy")
        self.busy.setRange(0, 0)  # no measurable steps inside a detector: a busy indicator
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(72)
        self.cancel = QPushButton("Cancel", objectName="cancelAnalysis")
        self.cancel.setToolTip(CANCEL_TIP)
        self.cancel.clicked.connect(self._cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.busy)
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel)
        self.hide()

    def set_busy(self, token: int | None, text: str, waiting: int = 0) -> None:
        """``token`` is being analysed (``text`` says how); None: nothing is."""
        self.token = token
        if token is None:
            self.label.clear()
            self.hide()
            return
        more = f" ({waiting} more waiting)" if waiting > 0 else ""
        self.label.setText(f"{text}{more}")
        self.cancel.setEnabled(True)
        self.show()

    def _cancel(self) -> None:
        if self.token is not None:
            self.cancel.setEnabled(False)  # until the next item (or the same one's next stage) is shown
            self.label.setText(self.label.text() + " cancelling…")
            self.cancel_requested.emit(self.token)
