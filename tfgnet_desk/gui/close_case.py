"""Closing and reopening a case from the window.

Closing asks first (Case > Close case, Ctrl+Shift+W, or the case list's menu): a closed case is kept
and stays listed in grey, but it is read-only in the window: opened again from the list it shows its
evidence, runs and report, while adding or removing crops, the reference photo, face boxes, the
description and Generate stay disabled until the analyst reopens it (Case > Reopen case, audited in the
store as any status change).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

CLOSED_CASE = (
    "This case is closed: its evidence and runs are shown read-only. Reopen it (Case > Reopen case) to "
    "add evidence or run again."
)


def confirm_close(w: MainWindow, title: str) -> bool:
    """Ask before closing the case called ``title``; True when the analyst confirms."""
    box = QMessageBox(w)
    box.setObjectName("confirmCloseCase")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Close case")
    box.setText(f"Close the case “{title}”?")
    box.setInformativeText(
        "The case is kept with all its evidence, runs and audit log, and stays in the case list. A closed "
        "case is read-only until it is reopened (Case > Reopen case)."
    )
    close = box.addButton("Close case", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep it open", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is close


def close_case_asked(w: MainWindow, case_id: int | None = None) -> bool:
    """Close ``case_id`` (None: the open case) after the analyst confirms; True when it was closed."""
    case_id = case_id if case_id is not None else w.case_id
    if case_id is None or w.store is None:
        return False
    try:
        case = w.store.get_case(case_id)
    except Exception as exc:  # noqa: BLE001
        w.show_message(messages.explain(exc, "closing the case"))
        return False
    if case.get("status") == "closed" or not confirm_close(w, case["title"]):
        return False
    w.close_case(case_id)
    return True


def reopen_case(w: MainWindow, case_id: int | None = None) -> None:
    """Mark a closed case open again (audited by the store) and show it, editable."""
    case_id = case_id if case_id is not None else w.case_id
    if case_id is None or w.store is None:
        return
    try:
        w.store.reopen_case(case_id)
    except Exception as exc:  # noqa: BLE001
        w.show_message(messages.explain(exc, "reopening the case"))
        return
    w.open_case(case_id)
