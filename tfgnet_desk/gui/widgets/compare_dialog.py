"""Compare view: look at candidates as closely as the pixels allow.

Two tabs share one zoom bar (zoom in/out, fit, 1:1; the wheel and +/-/0/1 keys on a view; drag to pan):

- **Side by side**: any two candidates of the shown run (chosen in two lists), zoomed and panned
  together, each with its scores ("vs evidence", "vs reference photo"; old runs "vs restored face (old
  runs)") and its SYNTHETIC marking; the unaltered evidence and the restored face (with its own score vs
  the evidence) beside them. Beside the evidence, on demand, the evidence's face upscaled by Real-ESRGAN
  x4plus (``enhancement_panel.py``), labelled as an enhancement by a third-party model, never a candidate.
- **Before / after**: the evidence's face and one candidate at the same place and size, one image left
  of a divider and the other right of it; the analyst drags the divider (or the slider under it, or the
  Left/Right keys) across the face.

Enlarged images are drawn nearest-neighbour (``zoom_view.py``): no smoothing invents detail.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard, score_lines
from tfgnet_desk.gui.widgets.zoom_view import ZoomView
from tfgnet_desk.score_labels import candidate_label

RESTORED_FACE_TITLE = "Restored face (model output, not evidence)"
EVIDENCE_FACE = "Evidence face (unaltered pixels)"
SYNTHETIC_MARK = "SYNTHETIC composite — an investigative lead, not an identification"
FACE_MARGIN = 0.1  # each side of the face box, as a fraction of its longer side (roughly a candidate's frame)
SLIDER_STEPS = 1000


def face_square(image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The evidence's face as a square around its face box (with ``FACE_MARGIN``), pixels unaltered; parts
    outside the crop are mid-grey. Without a box: the centred square of the crop."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    if box is None:
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return img[y0 : y0 + s, x0 : x0 + s].copy()
    x0, y0, x1, y1 = (int(v) for v in box)
    side = max(1, math.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * FACE_MARGIN)))
    left, top = (x0 + x1 - side) // 2, (y0 + y1 - side) // 2
    out = np.full((side, side, 3), 128, np.uint8)
    sx0, sy0 = max(0, left), max(0, top)
    sx1, sy1 = min(w, left + side), min(h, top + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = img[sy0:sy1, sx0:sx1, :3]
    return out


def card_title(card: CandidateCard) -> str:
    return f"Candidate {candidate_label(card.index)} (seed {card.seed})" + (
        "  ★ picked" if card.picked else ""
    )


def card_text(card: CandidateCard) -> str:
    lines = score_lines(card.scores, backend=True)
    if card.note:
        lines.append("note: " + card.note)
    return "\n".join(lines)


def _synthetic_label(name: str) -> QLabel:
    label = QLabel(SYNTHETIC_MARK, objectName=name, wordWrap=True)
    label.setProperty("synthetic", True)
    label.setStyleSheet("color: #8a1c1c; font-weight: bold;")
    return label


class SideBySide(QWidget):
    """Two candidates (any two of ``cards``), zoomed and panned together, with evidence and restored face."""

    def __init__(
        self,
        cards: list[CandidateCard],
        first: int,
        second: int,
        evidence,
        restored,
        scores,
        enhancement: QWidget | None = None,
    ):
        super().__init__()
        self.cards = cards
        self.enhancement = enhancement
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Evidence (unaltered)", objectName="paneTitle"), 0, 0)
        self.evidence = ZoomView(name="compareEvidence")
        self.evidence.setMinimumSize(140, 140)
        self.evidence.set_image(evidence)
        grid.addWidget(self.evidence, 1, 0, 2, 1)
        self.restored = None
        if restored is not None:
            grid.addWidget(QLabel(RESTORED_FACE_TITLE, wordWrap=True), 3, 0)
            self.restored = ZoomView(name="compareRestored")
            self.restored.setMinimumSize(140, 140)
            self.restored.set_image(restored)
            grid.addWidget(self.restored, 4, 0)
            lines = score_lines(scores or {}, backend=True)
            grid.addWidget(QLabel("\n".join(lines), objectName="compareRestoredScore", wordWrap=True), 5, 0)
        self.choices: list[QComboBox] = []
        self.views: list[ZoomView] = []
        self.texts: list[QLabel] = []
        shift = 0  # the upscaled tile's column, beside the evidence, moves the candidates right
        if enhancement is not None:
            shift = 1
            grid.addWidget(enhancement, 0, 1, 6, 1)
            toggle = getattr(enhancement, "toggle", None)
            if toggle is not None:  # the column takes room only while the tile is shown
                toggle.toggled.connect(lambda on: grid.setColumnStretch(1, 1 if on else 0))
        for col, at in enumerate((first, second), start=1):
            choice = QComboBox(objectName=f"compareChoice{col}")
            choice.addItems([card_title(c) for c in cards])
            choice.setToolTip("Any candidate of the shown run")
            view = ZoomView(name=f"compareCandidate{col}")
            text = QLabel(objectName=f"compareScores{col}", wordWrap=True)
            grid.addWidget(choice, 0, col + shift)
            grid.addWidget(_synthetic_label(f"compareSynthetic{col}"), 1, col + shift)
            grid.addWidget(view, 2, col + shift, 3, 1)
            grid.addWidget(text, 5, col + shift)
            self.choices.append(choice)
            self.views.append(view)
            self.texts.append(text)
            choice.currentIndexChanged.connect(lambda i, c=col - 1: self.show_card(c, i))
            choice.setCurrentIndex(at)
            self.show_card(col - 1, at)
        self.views[0].link(self.views[1])
        grid.setColumnStretch(1 + shift, 1)
        grid.setColumnStretch(2 + shift, 1)
        grid.setRowStretch(2, 1)

    def show_card(self, column: int, index: int) -> None:
        if not 0 <= index < len(self.cards):
            return
        card = self.cards[index]
        self.views[column].set_image(card.image)
        self.views[column].setToolTip(card_title(card) + ": a synthetic composite")
        self.texts[column].setText(card_text(card))
        other = self.views[1 - column] if len(self.views) == 2 else None
        if other is not None:
            self.views[column]._follow(other)  # keep the pair at one zoom and place

    def current(self) -> tuple[CandidateCard, CandidateCard]:
        return self.cards[self.choices[0].currentIndex()], self.cards[self.choices[1].currentIndex()]


class BeforeAfter(QWidget):
    """The evidence's face (or the restored face) left of a divider, a candidate right of it, at the same
    place and size."""

    def __init__(self, cards: list[CandidateCard], at: int, evidence_face, restored) -> None:
        super().__init__()
        self.cards = cards
        self.lefts = [(EVIDENCE_FACE, evidence_face)]
        if restored is not None:
            self.lefts.append((RESTORED_FACE_TITLE, restored))
        self.left = QComboBox(objectName="compareLeft")
        self.left.addItems([name for name, _ in self.lefts])
        self.left.setToolTip(
            "Left of the divider. The evidence face is a square around the face box of the crop shown "
            "in the main window, with its pixels as they are."
        )
        self.right = QComboBox(objectName="compareRight")
        self.right.addItems([card_title(c) for c in cards])
        self.view = ZoomView(name="compareSplitView")
        self.view.setToolTip(
            "Drag the divider (or the slider below, or press Left/Right) to move between the two images; "
            "drag elsewhere to pan, wheel to zoom"
        )
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="compareSplit")
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(SLIDER_STEPS // 2)
        self.slider.setToolTip("Where the divider is: evidence to its left, the candidate to its right")
        self.slider.valueChanged.connect(lambda v: self.view.set_split(v / SLIDER_STEPS))
        self.view.split_changed.connect(self._split_moved)
        self.text = QLabel(objectName="compareSplitScores", wordWrap=True)
        head = QHBoxLayout()
        head.addWidget(QLabel("◀ left:"))
        head.addWidget(self.left, 1)
        head.addStretch(1)
        head.addWidget(QLabel("right ▶"))
        head.addWidget(self.right, 1)
        col = QVBoxLayout(self)
        col.addLayout(head)
        col.addWidget(_synthetic_label("compareSplitSynthetic"))
        col.addWidget(self.view, 1)
        col.addWidget(self.slider)
        col.addWidget(self.text)
        self.left.currentIndexChanged.connect(self._show)
        self.right.currentIndexChanged.connect(self._show)
        self.right.setCurrentIndex(at)
        self._show()

    def _show(self, _index: int = 0) -> None:
        card = self.card()
        self.view.set_image(self.lefts[self.left.currentIndex()][1])
        self.view.set_after(card.image if card is not None else None)
        self.text.setText(f"{card_title(card)}: {card_text(card)}".replace("\n", "; ") if card else "")

    def card(self) -> CandidateCard | None:
        i = self.right.currentIndex()
        return self.cards[i] if 0 <= i < len(self.cards) else None

    def _split_moved(self, fraction: float) -> None:
        value = round(fraction * SLIDER_STEPS)
        if self.slider.value() != value:
            self.slider.blockSignals(True)
            self.slider.setValue(value)
            self.slider.blockSignals(False)


class CompareDialog(QDialog):
    """Non-modal: the analyst can keep it open while working in the main window.

    ``a`` and ``b`` are shown side by side first (``b`` None: one candidate, the before/after tab
    first); ``cards`` are all the candidates the lists offer (default: ``a`` and ``b``); ``enhancement``:
    the upscaled tile (``EnhancementPanel``) shown beside the evidence, or None."""

    def __init__(
        self,
        a: CandidateCard,
        b: CandidateCard | None,
        evidence: np.ndarray | None,
        restored: np.ndarray | None = None,
        parent=None,
        restored_scores: dict | None = None,
        *,
        cards: list[CandidateCard] | None = None,
        evidence_box: tuple[int, int, int, int] | None = None,
        enhancement: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("compareDialog")
        pair = [a] + ([b] if b is not None else [])
        cards = list(cards or pair)
        for card in pair:
            if card not in cards:
                cards.append(card)
        first = cards.index(a)
        second = cards.index(b) if b is not None else (first + 1) % len(cards)
        title = f"Compare candidates {candidate_label(a.index)}"
        self.setWindowTitle(title + (f" and {candidate_label(b.index)}" if b is not None else ""))
        self.side = SideBySide(cards, first, second, evidence, restored, restored_scores, enhancement)
        face = face_square(evidence, evidence_box) if evidence is not None else None
        self.split = BeforeAfter(cards, first, face, restored)
        self.tabs = QTabWidget(objectName="compareTabs")
        self.tabs.addTab(self.side, "Side by side")
        self.tabs.addTab(self.split, "Before / after")
        if b is None:
            self.tabs.setCurrentWidget(self.split)
        self.zoom_label = QLabel(objectName="compareZoom")
        bar = QHBoxLayout()
        for text, tip, slot in (
            ("Zoom in", "Zoom in (+ or the mouse wheel)", ZoomView.zoom_in),
            ("Zoom out", "Zoom out (-)", ZoomView.zoom_out),
            ("Fit", "Fit the image into the view (0)", ZoomView.fit),
            ("1:1", "One screen pixel per image pixel (1)", ZoomView.one_to_one),
        ):
            button = QPushButton(text, objectName=f"compare{text.replace(' ', '').replace(':', 'to')}")
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, s=slot: self._zoom(s))
            bar.addWidget(button)
        bar.addWidget(self.zoom_label, 1)
        for view in self.views():
            view.view_changed.connect(self._show_zoom)
        self.tabs.currentChanged.connect(lambda _i: self._show_zoom())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(bar)
        col.addWidget(self.tabs, 1)
        col.addWidget(buttons)
        QShortcut(QKeySequence.StandardKey.Close, self, self.reject)
        self.resize(980, 660)
        self._show_zoom()

    @property
    def cards(self) -> tuple[CandidateCard, CandidateCard]:
        """The two candidates side by side."""
        return self.side.current()

    def views(self) -> list[ZoomView]:
        return [*self.side.views, self.split.view]

    def current_view(self) -> ZoomView:
        """The view the zoom bar acts on: the before/after view, or the first candidate (its pair
        follows)."""
        return self.split.view if self.tabs.currentWidget() is self.split else self.side.views[0]

    def _zoom(self, slot) -> None:
        view = self.current_view()
        slot(view)
        view.setFocus()

    def _show_zoom(self) -> None:
        self.zoom_label.setText("zoom " + self.current_view().zoom_text() + "; drag to pan")
