"""Compare view: two candidates side by side, large, beside the unaltered evidence, with their scores
("vs evidence", "vs reference photo"; old runs "vs restored face (old runs)"), and the restored face
with its own score vs the evidence."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QVBoxLayout

from tfgnet_desk.gui.images import to_pixmap
from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard, score_lines
from tfgnet_desk.score_labels import candidate_label

BIG = 320
RESTORED_FACE_TITLE = "Restored face (model output, not evidence)"


def _image_label(img: np.ndarray | None, size: int, name: str) -> QLabel:
    label = QLabel(objectName=name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(size, size)
    if img is not None:
        label.setPixmap(to_pixmap(img, size))
    else:
        label.setText("(none)")
    return label


class CompareDialog(QDialog):
    """Non-modal: the analyst can keep it open while working in the main window."""

    def __init__(
        self,
        a: CandidateCard,
        b: CandidateCard,
        evidence: np.ndarray | None,
        restored: np.ndarray | None = None,
        parent=None,
        restored_scores: dict | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("compareDialog")
        self.setWindowTitle(f"Compare candidates {candidate_label(a.index)} and {candidate_label(b.index)}")
        self.cards = (a, b)
        grid = QGridLayout()
        grid.addWidget(QLabel("Evidence (unaltered)", objectName="paneTitle"), 0, 0)
        grid.addWidget(_image_label(evidence, BIG // 2, "compareEvidence"), 1, 0, Qt.AlignmentFlag.AlignTop)
        if restored is not None:
            grid.addWidget(QLabel(RESTORED_FACE_TITLE), 2, 0)
            grid.addWidget(
                _image_label(restored, BIG // 2, "compareRestored"), 3, 0, Qt.AlignmentFlag.AlignTop
            )
            lines = score_lines(restored_scores or {}, backend=True)
            grid.addWidget(QLabel("\n".join(lines), objectName="compareRestoredScore", wordWrap=True), 4, 0)
        for col, card in enumerate((a, b), start=1):
            title = f"Candidate {candidate_label(card.index)} (seed {card.seed})" + (
                "  ★ picked" if card.picked else ""
            )
            grid.addWidget(QLabel(title, objectName="paneTitle"), 0, col)
            grid.addWidget(_image_label(card.image, BIG, f"compareCandidate{col}"), 1, col, 3, 1)
            lines = score_lines(card.scores, backend=True)
            if card.note:
                lines.append("note: " + card.note)
            lines.append("synthetic composite — an investigative lead, not an identification")
            text = QLabel("\n".join(lines), objectName=f"compareScores{col}", wordWrap=True)
            grid.addWidget(text, 4, col)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(grid)
        col.addWidget(buttons)
        QShortcut(QKeySequence.StandardKey.Close, self, self.reject)
