"""Run history of the open case: one entry per run (candidates, seed, time, status), newest first;
selecting one shows its candidates again. Also holds the Export PDF button."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QWidget


@dataclass(frozen=True)
class RunRow:
    id: object
    number: int
    n_candidates: int
    seed: int
    started: str  # formatted
    status: str

    def label(self) -> str:
        status = "" if self.status in ("done", "finished", "complete", "completed") else f", {self.status}"
        return f"run {self.number} ({self.n_candidates} cand., seed {self.seed}, {self.started}{status})"


class RunHistory(QWidget):
    run_selected = Signal(object)
    export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("runHistory")
        self.list = QListWidget(objectName="runs")
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setFixedHeight(44)
        self.list.setToolTip("Runs of this case, newest first; select one to see its candidates")
        self.list.currentItemChanged.connect(self._changed)
        self.export = QPushButton("Export PDF…", objectName="exportPdf")
        self.export.setToolTip("Write the case report as PDF (Ctrl+E)")
        self.export.clicked.connect(self.export_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 6)
        row.addWidget(QLabel("Run history:"))
        row.addWidget(self.list, 1)
        row.addWidget(self.export)
        self._updating = False

    def set_runs(self, runs: list[RunRow], current: object = None) -> None:
        self._updating = True
        try:
            self.list.clear()
            for run in runs:
                item = QListWidgetItem(run.label())
                item.setData(Qt.UserRole, run.id)
                self.list.addItem(item)
                if run.id == current:
                    self.list.setCurrentItem(item)
        finally:
            self._updating = False

    def run_ids(self) -> list:
        return [self.list.item(i).data(Qt.UserRole) for i in range(self.list.count())]

    def _changed(self, item, _prev) -> None:
        if item is not None and not self._updating:
            self.run_selected.emit(item.data(Qt.UserRole))
