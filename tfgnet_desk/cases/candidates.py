"""``store.candidates``: reading candidates, and the analyst's picks and notes on them.

A part of :class:`~tfgnet_desk.cases.store.CaseStore` (composition: it holds the store's
:class:`~tfgnet_desk.cases.store_db.StoreDB`). Writing runs and their candidates (the run lifecycle) is
``store.runs`` (:mod:`.runs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfgnet_desk.cases import states
from tfgnet_desk.cases.store_db import StoreDB


class CandidateRecords:
    """The candidate rows of the store (``store.candidates``)."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db

    def of_run(self, run_id: int) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM candidates WHERE run_id = ? ORDER BY idx", (run_id,))

    def get(self, candidate_id: int) -> dict[str, Any]:
        return self.db.one(
            "SELECT * FROM candidates WHERE id = ?", (candidate_id,), f"no candidate {candidate_id}"
        )

    def path(self, candidate_id: int) -> Path:
        return self.db.home / self.get(candidate_id)["file"]

    def picked(self, case_id: int) -> list[dict[str, Any]]:
        return self.db.all(
            "SELECT k.* FROM candidates k JOIN runs r ON r.id = k.run_id "
            "WHERE r.case_id = ? AND k.picked = 1 ORDER BY r.id, k.idx",
            (case_id,),
        )

    def set_pick(self, candidate_id: int, picked: bool = True) -> dict[str, Any]:
        """Mark (or unmark) a candidate as picked by the analyst."""
        return self._update(candidate_id, "candidate.pick", picked=int(bool(picked)))

    def annotate(self, candidate_id: int, note: str) -> dict[str, Any]:
        """Set the analyst's note on a candidate."""
        return self._update(candidate_id, "candidate.note", note=str(note))

    def _update(self, candidate_id: int, action: str, **fields: Any) -> dict[str, Any]:
        with self.db.transaction() as c:
            k = self.db.update_row("candidates", candidate_id, "candidate", **fields)
            run = c.execute("SELECT uid, case_id FROM runs WHERE id = ?", (k["run_id"],)).fetchone()
            case = self.db.case_row(run["case_id"])
            self.db.append_audit(
                case["uid"],
                action,
                states.candidate_key(run["uid"], k["idx"]),
                states.candidate_state(k, run["uid"]),
                **fields,
            )
        return self.get(candidate_id)
