"""What the window shows of the open case, and which actions a case allows.

Creating, opening or closing a case resets every case-bound display at once: the evidence, the
description, the candidate grid and its restored face, the run history, the run status line and
progress bar, and the messages about the previous case. Nothing of one case stays on screen under
another's title.

Closing the open case leaves the window with no case: the actions that work on a case (add crops or a
reference photo, paste, Generate, Export, rename, close) stay disabled until a case is opened or created.
At start, before any case was closed, a first crop may still be dropped: it makes a new case. A closed
case opened from the list is shown read-only (``gui/close_case.py``): Export and Reopen work, the
evidence actions (add, paste, remove, reference photo, face box, description, Generate) do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfgnet_desk.gui import messages
from tfgnet_desk.gui.close_case import CLOSED_CASE

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

TITLE = "tfgnet-desk"
NO_CASE = "No case open: open one from the case list or create one (Ctrl+N)."
# Messages about the case on screen (they go with it); others (model missing, recovered runs) stay.
CASE_MESSAGES = (messages.BAD_FILE, messages.NO_FACE, messages.INVALID_INPUT, "cancelled")
EVIDENCE_ACTIONS = ("open_evidence", "paste", "reference", "generate")
CASE_ACTIONS = ("export", "rename_case")


def can_add_evidence(w: MainWindow) -> bool:
    """An open (not closed) case is shown, or no case is and none was closed yet (then the first crop
    makes one)."""
    if w.case_id is not None:
        return not w.case_closed
    return not w.case_left


def show_case(w: MainWindow, case: dict[str, Any] | None, description: str = "") -> None:
    """Reset every case-bound display to ``case`` (a store row; ``None``: no case open)."""
    w.candidates.clear()  # also the restored face and its score
    w.evidence.clear()
    w.reference_id = None
    w.runs.shown_run = None
    if not w.runs.is_running():  # a run in progress keeps its progress (it names its own case)
        w.controls.reset_status()
    w.statusBar().clearMessage()
    if w.message_bar.kind() in CASE_MESSAGES:
        w.message_bar.clear()
    w.case_closed = case is not None and case.get("status") == "closed"
    if case is None:
        w.case_id = w.case_uid = None
        w.setWindowTitle(TITLE)
        w.history.set_runs([])
    else:
        w.case_id, w.case_uid = case["id"], case["uid"]
        closed = " (closed)" if w.case_closed else ""
        w.setWindowTitle(f"{case['title']}{closed} — {TITLE}")
    w.description.set_text(description)
    update_case_actions(w)


def update_case_actions(w: MainWindow) -> None:
    has_case = w.case_id is not None
    can_add = can_add_evidence(w)
    for name in EVIDENCE_ACTIONS:
        w.actions[name].setEnabled(can_add)
    for name in CASE_ACTIONS:
        w.actions[name].setEnabled(has_case)
    w.actions["close_case"].setEnabled(has_case and not w.case_closed)
    w.actions["reopen_case"].setEnabled(has_case and w.case_closed)
    w.history.export.setEnabled(has_case)
    w.evidence.set_accepting(can_add, CLOSED_CASE if has_case else NO_CASE)
    w.description.edit.setEnabled(can_add)


def case_blocker(w: MainWindow) -> str | None:
    """Why Generate is disabled for want of an open case (None: one is open or may still be made)."""
    if can_add_evidence(w):
        return None
    return CLOSED_CASE if w.case_id is not None else NO_CASE
