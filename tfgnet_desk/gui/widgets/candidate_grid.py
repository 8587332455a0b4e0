"""Candidates side by side, each with its identity scores (naming the backend); sort, pick, annotate,
and open two in the compare view. Candidates are synthetic composites, labelled as such.

Scores are labelled with one vocabulary (``score_labels.py``: "vs evidence", "vs reference photo", "vs
restored face (old runs)"). The restored face (the model's own output) is shown beside the grid.
Tiles scale with the pane (``tiles.py``): as large as lets every candidate be seen at once, each cell with
room for its whole caption (lines break between label and score when that lets all the candidates of a
run fit: 4 in one row at 1366x768). A thumbnail larger than the candidate is enlarged nearest-neighbour
(no smoothing invents detail); the compare view (``compare_dialog.py``) zooms further."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.gui.widgets.tiles import (
    CELL_PAD,
    MAX_TILE,
    MIN_TILE,
    CaptionLine,
    caption_size,
    caption_text,
    face_icon,
    thumbnail,
    tile_layout,
)
from tfgnet_desk.score_labels import (
    EVIDENCE,
    OLD_RESTORED,
    REFERENCE,
    candidate_label,
    ordered_scores,
    score_backend,
    score_label,
    score_value,
)

__all__ = ["MAX_TILE", "MIN_TILE", "CandidateCard", "CandidateGrid", "score_lines", "thumbnail"]
NUMBER_SORT = "candidate number"
SORTS = {
    f"score {score_label(EVIDENCE)}": EVIDENCE,
    f"score {score_label(REFERENCE)}": REFERENCE,
    NUMBER_SORT: "",
}
OLD_SORT = f"score {score_label(OLD_RESTORED)}"  # offered only while an old run's candidates are shown


def score_parts(score: Any) -> tuple[float | None, float | None, str]:
    """(calibrated, raw, backend) of an IdentityScore-like object or dict (stored runs give dicts)."""
    if score is None:
        return None, None, ""
    return score_value(score, "calibrated"), score_value(score, "raw"), score_backend(score)


def format_score(score: Any) -> str:
    cal, raw, _backend = score_parts(score)
    if cal is None and raw is None:
        return "n/a"
    if cal is None:
        return f"{raw:.2f}"
    return f"{cal:.2f} (raw {raw:.2f})" if raw is not None else f"{cal:.2f}"


@dataclass
class CandidateCard:
    """One candidate as shown in the grid."""

    key: str
    index: int
    seed: int
    image: np.ndarray
    scores: dict[str, Any] = field(default_factory=dict)
    picked: bool = False
    note: str = ""
    store_id: object = None

    def sort_value(self, which: str) -> float:
        if not which:
            return -self.index
        cal, raw, _ = score_parts(self.scores.get(which))
        value = cal if cal is not None else raw
        return value if value is not None else float("-inf")

    def caption_lines(self) -> list[CaptionLine]:
        """The caption's lines as segments: number and seed (and '★ picked'), then each score."""
        first = (f"{candidate_label(self.index)}  seed {self.seed}", *(("★ picked",) if self.picked else ()))
        return [("  ", first), *((" ", pair) for pair in score_segments(self.scores))]

    def label(self, fm: QFontMetrics | None = None, wrap: int = 0) -> str:
        """The caption; lines wider than ``wrap`` pixels (in ``fm``) broken between their segments."""
        return caption_text(self.caption_lines(), fm, wrap)


def score_segments(scores: dict[str, Any]) -> list[tuple[str, str]]:
    """``("vs evidence", "0.41 (raw 0.93)")`` per score, in the one order every view uses; 'n/a' vs
    evidence when a new run could not score against it (no face found)."""
    shown = dict(scores or {})
    if EVIDENCE not in shown and OLD_RESTORED not in shown:
        shown[EVIDENCE] = None  # say so rather than show nothing
    return [(score_label(name), format_score(score)) for name, score in ordered_scores(shown)]


def score_lines(scores: dict[str, Any], backend: bool = False, sep: str = " ") -> list[str]:
    """``vs evidence 0.41 (raw 0.93)`` per score (``sep`` between label and value; ``backend``:
    ``vs evidence: 0.41 (raw 0.93) [dlib-resnet]``)."""
    if not backend:
        return [f"{label}{sep}{value}" for label, value in score_segments(scores)]
    shown = dict(scores or {})
    if EVIDENCE not in shown and OLD_RESTORED not in shown:
        shown[EVIDENCE] = None
    lines = []
    for name, score in ordered_scores(shown):
        by = score_parts(score)[2]
        lines.append(f"{score_label(name)}: {format_score(score)}" + (f" [{by}]" if by else ""))
    return lines


class CandidateGrid(QWidget):
    """Grid of candidate cards with sort, pick (Space), annotate and compare."""

    pick_toggled = Signal(str, bool)
    note_changed = Signal(str, str)
    compare_requested = Signal(str, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("candidateGrid")
        self.cards: dict[str, CandidateCard] = {}
        self.restored_image: np.ndarray | None = None  # the shown run's restored face, when it is known
        self.restored_scores: dict[str, Any] = {}  # its scores, shown under its thumbnail
        title = QLabel("Candidates", objectName="paneTitle")
        self.sort = QComboBox(objectName="candidateSort")
        self.sort.addItems(list(SORTS))
        self.sort.setToolTip("Sort candidates")
        self.sort.currentTextChanged.connect(lambda _t: self._resort())
        self.backend = QLabel(objectName="scoreBackend", wordWrap=True)  # wraps rather than widen the pane
        self.backend.setToolTip("The identity model that produced every score shown here")
        self.synthetic = QLabel(
            "synthetic composites — investigative leads, not identifications", objectName="syntheticNote"
        )
        self.list = QListWidget(objectName="candidates")
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.tile = 0  # the thumbnails' side; set by _fit_tiles from the list's size
        self.wrap = 0  # the width captions are broken at (0: whole lines); set by _fit_tiles
        fm = self.list.fontMetrics()
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.list.itemDoubleClicked.connect(lambda _i: self.toggle_pick())
        self.list.installEventFilter(self)
        self._fit_tiles()
        self.pick = QPushButton("Pick", objectName="pickCandidate")
        self.pick.setMinimumWidth(72)
        self.pick.setToolTip("Mark the selected candidate as picked (Space)")
        self.pick.clicked.connect(self.toggle_pick)
        self.compare = QPushButton("Compare", objectName="compareCandidates")
        self.compare.setToolTip(
            "Compare: one selected candidate against the evidence (before/after), or two selected "
            "(Ctrl+click) side by side; zoom to the pixels (Ctrl+K)"
        )
        self.compare.clicked.connect(self.request_compare)
        self.note = QLineEdit(objectName="candidateNote", placeholderText="Note on the selected candidate")
        self._note_timer = QTimer(self, singleShot=True, interval=500)
        self._note_timer.timeout.connect(self.flush_note)
        self.note.textEdited.connect(lambda _t: self._note_timer.start())
        self.note.editingFinished.connect(self.flush_note)
        self.restored = QLabel(objectName="restoredThumb")
        self.restored.setFixedSize(96, 96)
        self.restored.setToolTip(
            "The model's restored face: its own output, not evidence. Candidates are scored against the "
            "evidence, never against this face; its own score vs the evidence is shown under it."
        )
        self.restored_score = QLabel(objectName="restoredScore")
        self.restored_score.setFixedWidth(max(96, fm.horizontalAdvance("-0.00 (raw 0.00)") + 8))
        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(QLabel("sort:"))
        head.addWidget(self.sort)
        head.addStretch(1)
        head.addWidget(self.synthetic)
        head.addWidget(self.backend)
        side = QVBoxLayout()
        side.addWidget(QLabel("restored face:"))
        side.addWidget(self.restored)
        side.addWidget(self.restored_score)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(side)
        actions = QHBoxLayout()
        actions.addWidget(self.pick)
        actions.addWidget(self.compare)
        actions.addWidget(self.note, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 6)
        col.addLayout(head)
        col.addLayout(body, 1)
        col.addLayout(actions)
        self._selection_changed()

    # Content ---------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.flush_note()  # never lose a note being typed
        self._note_key = None
        self.cards.clear()
        self.list.clear()
        self.set_restored(None)
        self.backend.setText("")
        self._offer_old_sort(False)
        self._fit_tiles()
        self._selection_changed()

    def set_restored(self, image: np.ndarray | None, scores: dict[str, Any] | None = None) -> None:
        """Show the restored face and its score vs the evidence (``GenerationResult.restored_scores[0]``)."""
        self.restored_image, self.restored_scores = image, dict(scores or {})
        if image is None:
            self.restored.clear()
            self.restored_score.clear()
            return
        self.restored.setPixmap(thumbnail(image, 96))
        # "vs evidence" over "0.31 (raw 0.90)": the side column is narrow
        self.restored_score.setText("\n".join(score_lines(self.restored_scores, sep="\n")))
        self._show_backends()

    def add_card(self, card: CandidateCard) -> None:
        self.cards[card.key] = card
        self._show_backends()
        if OLD_RESTORED in card.scores:
            self._offer_old_sort(True)
        item = QListWidgetItem(
            face_icon(card.image, self.tile), card.label(self.list.fontMetrics(), self.wrap)
        )
        item.setData(Qt.UserRole, card.key)
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        item.setToolTip(
            f"Candidate #{card.index + 1}, seed {card.seed}: a synthetic composite\n"
            + "\n".join(score_lines(card.scores, backend=True))
        )
        self.list.addItem(item)
        self._fit_tiles()
        self._resort()

    def ordered_keys(self) -> list[str]:
        return [self.list.item(i).data(Qt.UserRole) for i in range(self.list.count())]

    def selected_keys(self) -> list[str]:
        return [it.data(Qt.UserRole) for it in self.list.selectedItems()]

    def select_keys(self, keys: list[str]) -> None:
        for i in range(self.list.count()):
            self.list.item(i).setSelected(self.list.item(i).data(Qt.UserRole) in keys)

    # Actions ---------------------------------------------------------------------------------------
    def toggle_pick(self) -> None:
        keys = self.selected_keys()
        if len(keys) != 1:
            return
        card = self.cards[keys[0]]
        card.picked = not card.picked
        self._refresh_item(card.key)
        self.pick.setText("Unpick" if card.picked else "Pick")
        self.pick_toggled.emit(card.key, card.picked)

    def request_compare(self) -> None:
        """Two selected: side by side; one: that candidate against the evidence (before/after)."""
        keys = self.selected_keys()
        if len(keys) in (1, 2):
            self.compare_requested.emit(keys[0], keys[1] if len(keys) == 2 else "")

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        """Space in the grid picks the selected candidate (the list would use it for selection); the
        tiles follow the list's size."""
        if obj is self.list and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Space:
            self.toggle_pick()
            return True
        if obj is self.list and event.type() == QEvent.Type.Resize:
            self._fit_tiles()
        return super().eventFilter(obj, event)

    # Tiles -----------------------------------------------------------------------------------------
    def caption_size(self, wrap: int = 0) -> QSize:
        """Room for the longest caption of the shown cards (at least a new run's three lines, as wide as
        a picked candidate's with a reference photo), lines broken at ``wrap`` pixels (0: whole)."""
        fm = QFontMetrics(self.list.font())
        lines = [
            ("  ", (f"{candidate_label(0)}  seed 0000", "★ picked")),
            (" ", (score_label(REFERENCE), "-0.00 (raw 0.00)")),
        ]
        texts = [caption_text(lines, fm, wrap), *(c.label(fm, wrap) for c in self.cards.values())]
        return caption_size(texts, fm)

    def _fit_tiles(self) -> None:
        """Size the thumbnails to the list (see ``tiles.tile_layout``) and give every cell its whole
        caption, broken between label and score where that lets every candidate be seen.

        The width leaves room for a vertical scroll bar whether or not one shows, so that a scroll bar
        appearing never changes the tile size (which could make it disappear again)."""
        area = self.list.contentsRect()
        bar = self.list.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        side, wrap = tile_layout(
            area.width() - bar - 4, area.height() - 4, len(self.cards), self.caption_size
        )
        caption = self.caption_size(wrap)
        cell = QSize(max(side, caption.width()) + CELL_PAD, side + caption.height() + CELL_PAD)
        if side != self.tile or wrap != self.wrap:
            fm = self.list.fontMetrics()
            self.list.setIconSize(QSize(side, side))
            for i in range(self.list.count()):
                item = self.list.item(i)
                card = self.cards.get(item.data(Qt.UserRole))
                if card is not None:
                    if side != self.tile:
                        item.setIcon(face_icon(card.image, side))
                    item.setText(card.label(fm, wrap))
            self.tile, self.wrap = side, wrap
        if self.list.gridSize() != cell:
            self.list.setGridSize(cell)

    # Internals -------------------------------------------------------------------------------------
    def _refresh_item(self, key: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.UserRole) == key:
                item.setText(self.cards[key].label(self.list.fontMetrics(), self.wrap))
        self._fit_tiles()  # "★ picked" may lengthen the caption

    def _show_backends(self) -> None:
        scores = [s for c in self.cards.values() for s in c.scores.values()]
        backends = sorted({score_parts(s)[2] for s in [*scores, *self.restored_scores.values()]} - {""})
        if backends:
            self.backend.setText(
                "identity scores by "
                + ", ".join(backends)
                + " (0 = typical stranger; raw similarity in brackets)"
            )
            self.backend.setToolTip(
                "Technical: the first number is the calibrated (centred) cosine similarity, the one in "
                "brackets the raw cosine of the identity network's features (docs/identity.md)"
            )

    def _offer_old_sort(self, offer: bool) -> None:
        """Sorting by the old runs' score vs the restored face is offered only while such a run is shown."""
        at = self.sort.findText(OLD_SORT)
        if offer and at < 0:
            self.sort.insertItem(self.sort.findText(NUMBER_SORT), OLD_SORT)
        elif not offer and at >= 0:
            self.sort.removeItem(at)

    def _resort(self) -> None:
        text = self.sort.currentText()
        which = OLD_RESTORED if text == OLD_SORT else SORTS.get(text, EVIDENCE)
        selected = self.selected_keys()
        items = [self.list.takeItem(0) for _ in range(self.list.count())]
        items.sort(key=lambda it: -self.cards[it.data(Qt.UserRole)].sort_value(which))
        for it in items:
            self.list.addItem(it)
        for it in items:
            it.setSelected(it.data(Qt.UserRole) in selected)

    def _selection_changed(self) -> None:
        self.flush_note()  # a pending note belongs to the previously selected candidate
        keys = self.selected_keys()
        self._note_key = keys[0] if len(keys) == 1 else None
        one = len(keys) == 1
        self.pick.setEnabled(one)
        self.note.setEnabled(one)
        self.compare.setEnabled(len(keys) in (1, 2))
        if one:
            card = self.cards[keys[0]]
            self.pick.setText("Unpick" if card.picked else "Pick")
            self.note.setText(card.note)
        else:
            self.note.clear()

    def flush_note(self) -> None:
        """Send the note being typed now (before a selection change, a run or closing the window)."""
        self._note_timer.stop()
        key = getattr(self, "_note_key", None)
        card = self.cards.get(key) if key else None
        if card is not None and card.note != self.note.text():
            card.note = self.note.text()
            self.note_changed.emit(key, card.note)
