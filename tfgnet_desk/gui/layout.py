"""The main window's layout: case list | evidence with face box | description and run controls |
candidates and run history, a message bar above and the status bar below.

The window must fit a 1366x768 laptop screen: the panes sit in splitters, and each pane that needs more
room than a small window gives it scrolls inside its own scroll area instead of forcing the window wider
or taller than the screen. ``DEFAULT_SIZE`` fits that screen with room for a desktop panel and the title
bar; ``MINIMUM_SIZE`` keeps every pane usable (the scroll areas take the rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from tfgnet_desk.gui.widgets.candidate_grid import CandidateGrid
from tfgnet_desk.gui.widgets.case_list import CaseList
from tfgnet_desk.gui.widgets.description_editor import DescriptionEditor
from tfgnet_desk.gui.widgets.evidence_panel import EvidencePanel
from tfgnet_desk.gui.widgets.message_bar import MessageBar
from tfgnet_desk.gui.widgets.run_controls import RunControls
from tfgnet_desk.gui.widgets.run_history import RunHistory

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

DEFAULT_SIZE = QSize(1320, 700)  # 1366x768 less a panel (~36 px) and the window frame
MINIMUM_SIZE = QSize(960, 600)
FRAME_ALLOWANCE = QSize(24, 64)  # title bar and borders the window manager adds around the client area


def scrolled(widget: QWidget, name: str) -> QScrollArea:
    """``widget`` in a frameless scroll area that shows scroll bars only when the pane is too small."""
    area = QScrollArea(objectName=name)
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    widget.setAutoFillBackground(False)  # the window's background shows through (style.qss)
    area.viewport().setAutoFillBackground(False)
    return area


def default_size() -> QSize:
    """``DEFAULT_SIZE``, smaller where the screen's free area (without panels) is smaller."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return QSize(DEFAULT_SIZE)
    free = screen.availableGeometry().size() - FRAME_ALLOWANCE
    return DEFAULT_SIZE.boundedTo(free).expandedTo(MINIMUM_SIZE)


def build_layout(w: MainWindow) -> None:
    """Create the panes as attributes of ``w`` and arrange them; signals are connected by the window."""
    w.case_list = CaseList()
    w.evidence = EvidencePanel()
    w.description = DescriptionEditor()
    w.controls = RunControls()
    w.candidates = CandidateGrid()
    w.history = RunHistory()
    w.message_bar = MessageBar()
    right_top = QWidget()
    rt = QVBoxLayout(right_top)
    rt.setContentsMargins(0, 0, 0, 0)
    rt.addWidget(w.description)
    rt.addWidget(w.controls)
    rt.addStretch(1)
    top = QSplitter(Qt.Orientation.Horizontal, objectName="topSplitter")
    top.addWidget(scrolled(w.evidence, "evidencePane"))
    top.addWidget(scrolled(right_top, "runPane"))
    top.setSizes([500, 600])
    lower = QWidget()
    lw = QVBoxLayout(lower)
    lw.setContentsMargins(0, 0, 0, 0)
    lw.addWidget(w.candidates, 1)
    lw.addWidget(w.history)
    right = QSplitter(Qt.Orientation.Vertical, objectName="rightSplitter")
    right.addWidget(top)
    right.addWidget(scrolled(lower, "candidatePane"))
    right.setSizes([375, 275])
    right.setStretchFactor(0, 0)  # a taller window gives its height to the candidates, not to the inputs
    right.setStretchFactor(1, 1)
    body = QSplitter(Qt.Orientation.Horizontal, objectName="bodySplitter")
    body.addWidget(w.case_list)
    body.addWidget(right)
    body.setSizes([210, 1100])
    body.setStretchFactor(1, 1)
    for splitter in (top, right, body):
        splitter.setChildrenCollapsible(False)  # a pane dragged small scrolls; it never vanishes
    central = QWidget()
    col = QVBoxLayout(central)
    col.setContentsMargins(4, 4, 4, 4)
    col.addWidget(w.message_bar)
    col.addWidget(body, 1)
    w.setCentralWidget(central)
    w.profile_label = QLabel(objectName="profileLabel")
    w.model_label = QLabel(objectName="modelState")
    w.model_label.setMinimumWidth(160)
    w.statusBar().addPermanentWidget(w.model_label)
    w.statusBar().addPermanentWidget(w.profile_label)
    w.setMinimumSize(MINIMUM_SIZE)
