"""The case list: every case with its status and last activity; new, search, rename, close, reopen."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

STATUS_ROLE = Qt.ItemDataRole.UserRole + 1  # the case's status ('open' | 'closed') on its list item


@dataclass(frozen=True)
class CaseRow:
    """What the list shows of one case."""

    id: object
    name: str
    status: str
    last_activity: str  # already formatted for display


class CaseList(QWidget):
    """Left pane. Emits intents; the main window talks to the case store."""

    case_selected = Signal(object)
    new_requested = Signal()
    rename_requested = Signal(object)
    close_requested = Signal(object)
    reopen_requested = Signal(object)
    search_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("caseList")
        title = QLabel("Cases", objectName="paneTitle")
        self.new_button = QPushButton("+", objectName="newCase")
        self.new_button.setToolTip("New case (Ctrl+N)")
        self.new_button.setFixedWidth(32)
        self.new_button.clicked.connect(self.new_requested)
        self.list = QListWidget(objectName="cases")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.rename_requested.emit(item.data(Qt.UserRole)))
        self.search = QLineEdit(objectName="caseSearch", placeholderText="Search cases (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.search_changed)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.new_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 6)
        col.addLayout(head)
        col.addWidget(self.list, 1)
        col.addWidget(self.search)
        self._updating = False

    def set_cases(self, rows: list[CaseRow], current: object = None) -> None:
        """Replace the list (keeps ``current`` selected without re-emitting ``case_selected``)."""
        self._updating = True
        try:
            self.list.clear()
            for row in rows:
                item = QListWidgetItem(f"{row.name}\n{row.status} · {row.last_activity}")
                item.setData(Qt.UserRole, row.id)
                item.setData(STATUS_ROLE, row.status)
                item.setToolTip(f"{row.name} — status: {row.status}; last activity: {row.last_activity}")
                if row.status == "closed":
                    item.setForeground(Qt.GlobalColor.gray)
                self.list.addItem(item)
                if row.id == current:
                    self.list.setCurrentItem(item)
        finally:
            self._updating = False

    def current_case(self) -> object:
        item = self.list.currentItem()
        return item.data(Qt.UserRole) if item else None

    def case_ids(self) -> list:
        return [self.list.item(i).data(Qt.UserRole) for i in range(self.list.count())]

    def select(self, case_id: object) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == case_id:
                self.list.setCurrentRow(i)
                return

    def _current_changed(self, item: QListWidgetItem | None, _prev) -> None:
        if item is not None and not self._updating:
            self.case_selected.emit(item.data(Qt.UserRole))

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        case_id = item.data(Qt.UserRole)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_requested.emit(case_id))
        if item.data(STATUS_ROLE) == "closed":
            menu.addAction("Reopen case", lambda: self.reopen_requested.emit(case_id))
        else:
            menu.addAction("Close case…", lambda: self.close_requested.emit(case_id))
        menu.exec(self.list.mapToGlobal(pos))
