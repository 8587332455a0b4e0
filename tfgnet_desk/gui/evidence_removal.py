"""Removing a crop from the open case: a recorded, audited action that can be undone.

Evidence is never deleted. Removing a crop (Remove, or Del in the evidence strip) marks its row in the case
store as excluded (``CaseStore.exclude_evidence``: audit ``evidence.excluded``); the stored file, its
hash and the runs that used it stay. The crop leaves the strip, is not offered after a relaunch, and the
message bar offers Undo (``evidence.included``). Importing the same image again also brings it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

EVIDENCE_REMOVED = "evidence-removed"
REMOVE_REASON = "removed by the analyst in the window"


class EvidenceRemoval:
    """The window's side of removal: store first, then the message with Undo."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.last: dict[str, Any] | None = None  # the removal Undo would revert

    def removed(self, key: str, item: Any) -> None:
        """The panel took ``item`` out of the strip; record it in the case store."""
        w, store_id = self.w, getattr(item, "store_id", None)
        if w.store is None or store_id is None or w.case_id is None:
            return  # not stored (no case store): nothing persists, nothing to record
        try:
            w.store.evidence.exclude(int(store_id), REMOVE_REASON)
        except Exception as exc:  # noqa: BLE001 - the analyst sees why; the crop returns on reopen
            w.show_message(messages.explain(exc, "removing the crop from the case"))
            return
        self.last = {"case_id": w.case_id, "evidence_id": int(store_id), "name": item.name}
        w.message_bar.show_message(
            messages.UserMessage(
                EVIDENCE_REMOVED,
                "Crop removed from the case",
                f"{item.name or 'The crop'} is no longer used for runs. Its stored copy and the runs that "
                "used it stay in the case; the removal is in the audit log.",
                "Press Undo to bring it back, or add the same image again.",
                "info",
            ),
            "Undo",
        )
        w.statusBar().showMessage("Crop removed from the case", 5000)

    def undo(self) -> None:
        """Bring the last removed crop back (audited), into the strip if its case is open."""
        w, last = self.w, self.last
        if last is None or w.store is None:
            return
        self.last = None
        try:
            w.store.evidence.include(last["evidence_id"])
        except Exception as exc:  # noqa: BLE001
            w.show_message(messages.explain(exc, "bringing the crop back"))
            return
        w.message_bar.clear()
        if last["case_id"] == w.case_id:
            w.request_stored_evidence(last["case_id"], last["evidence_id"], last["name"])
        w.statusBar().showMessage("Crop brought back", 5000)
