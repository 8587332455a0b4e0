"""File > New case: the case title, and the analyst's name while the settings have none.

The analyst's name is asked in this dialog (the one the analyst opens for a new case, Ctrl+N) until it
has been given once; it is saved in the settings (Settings > Analyst, where it can be changed), written as
the analyst of every new case, and recorded as the actor of every audited action (``CaseStore`` takes its
actor from the settings; ``analyst_changed`` passes a new name to the open store). Nothing is asked
unprompted: a crop dropped at start still makes a case at once, and tests never meet a modal dialog.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from tfgnet_desk.gui import messages
from tfgnet_desk.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

ANALYST_HINT = (
    "Your name is asked once: it is written as the analyst of each case you create and recorded with "
    "every action in the audit log. Change it later in Settings (Ctrl+,)."
)


class NewCaseDialog(QDialog):
    """The case title and, when ``ask_analyst``, the analyst's name; OK needs a title."""

    def __init__(self, default_title: str, ask_analyst: bool, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("newCaseDialog")
        self.setWindowTitle("New case")
        self.title = QLineEdit(default_title, objectName="newCaseTitle")
        self.title.selectAll()
        form = QFormLayout()
        form.addRow("Case title:", self.title)
        self.analyst: QLineEdit | None = None
        col = QVBoxLayout(self)
        col.addLayout(form)
        if ask_analyst:
            self.analyst = QLineEdit(objectName="newCaseAnalyst")
            self.analyst.setPlaceholderText("your name, as it should appear in reports")
            form.addRow("Analyst:", self.analyst)
            col.addWidget(QLabel(ANALYST_HINT, objectName="newCaseAnalystHint", wordWrap=True))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.title.textChanged.connect(self._update_ok)
        col.addWidget(self.buttons)
        self._update_ok()

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.title.text().strip()))

    def values(self) -> tuple[str, str]:
        """``(title, analyst)`` as typed, trimmed ('' when the analyst was not asked)."""
        name = self.analyst.text() if self.analyst is not None else ""
        return self.title.text().strip(), " ".join(name.split())


def analyst_changed(w: MainWindow, new: Settings) -> None:
    """Record actions under ``new``'s analyst from now on (the open store; a new store reads it itself)."""
    from tfgnet_desk.cases.store import settings_actor

    if w.store is not None:
        w.store.actor = settings_actor(new)


def set_analyst(w: MainWindow, name: str) -> None:
    """Save the analyst's name in the settings and use it from the next action on."""
    name = " ".join(name.split())
    if not name or name == w.settings.analyst:
        return
    w.settings = w.settings.with_(analyst=name)
    try:
        w.settings.save()
    except OSError as exc:
        w.show_message(messages.explain(exc, "saving the settings"))
    analyst_changed(w, w.settings)


def new_case(w: MainWindow, title: str, analyst: str = "") -> int | None:
    """Create a case titled ``title``, first saving ``analyst`` as the analyst's name when one is given."""
    set_analyst(w, analyst)
    return w.create_case(title.strip()) if title.strip() else None


def new_case_dialog(w: MainWindow) -> int | None:
    """Ask for the title (and the analyst's name while none is set), then create the case."""
    dialog = NewCaseDialog(time.strftime("Case %Y-%m-%d %H:%M"), not w.settings.analyst, w)
    if not dialog.exec():  # 0: rejected
        return None
    return new_case(w, *dialog.values())
