"""Reading runs and candidates, and the analyst's picks and notes (a mixin of ``CaseStore``).

Writing runs and candidates (the run lifecycle) is in :mod:`.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfgnet_desk.cases import states
from tfgnet_desk.cases.rows import NotFound


class CandidatesMixin:
    """Run and candidate look-ups, picks and notes (the store's ``transaction``, ``_one``, ``_all``)."""

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self._one("SELECT * FROM runs WHERE id = ?", (run_id,), f"no run {run_id}")

    def find_run(self, spec: str | int) -> int:
        """Resolve a run id or a uid prefix (at least 4 characters)."""
        s = str(spec).strip()
        with self._lock:
            if s.isdigit() and self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (int(s),)).fetchone():
                return int(s)
            rows = (
                self.conn.execute("SELECT id FROM runs WHERE uid LIKE ?", (s.lower() + "%",)).fetchall()
                if len(s) >= 4
                else []
            )
        if len(rows) == 1:
            return int(rows[0][0])
        raise NotFound(f"no run matches {s!r}" if not rows else f"{s!r} matches several runs")

    def list_runs(self, case_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM runs WHERE case_id = ? ORDER BY id", (case_id,))

    def list_candidates(self, run_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM candidates WHERE run_id = ? ORDER BY idx", (run_id,))

    def get_candidate(self, candidate_id: int) -> dict[str, Any]:
        return self._one(
            "SELECT * FROM candidates WHERE id = ?", (candidate_id,), f"no candidate {candidate_id}"
        )

    def candidate_path(self, candidate_id: int) -> Path:
        return self.home / self.get_candidate(candidate_id)["file"]

    def picked_candidates(self, case_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT k.* FROM candidates k JOIN runs r ON r.id = k.run_id "
            "WHERE r.case_id = ? AND k.picked = 1 ORDER BY r.id, k.idx",
            (case_id,),
        )

    def set_pick(self, candidate_id: int, picked: bool = True) -> dict[str, Any]:
        """Mark (or unmark) a candidate as picked by the analyst."""
        return self._update_candidate(candidate_id, "candidate.pick", picked=int(bool(picked)))

    def annotate(self, candidate_id: int, note: str) -> dict[str, Any]:
        """Set the analyst's note on a candidate."""
        return self._update_candidate(candidate_id, "candidate.note", note=str(note))

    def _update_candidate(self, candidate_id: int, action: str, **fields: Any) -> dict[str, Any]:
        with self.transaction() as c:
            k = c.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            if k is None:
                raise NotFound(f"no candidate {candidate_id}")
            sets = ", ".join(f"{f} = ?" for f in fields)
            c.execute(f"UPDATE candidates SET {sets} WHERE id = ?", (*fields.values(), candidate_id))
            k = c.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            run = c.execute("SELECT uid, case_id FROM runs WHERE id = ?", (k["run_id"],)).fetchone()
            case = self._case_row(run["case_id"])
            self.append_audit(
                case["uid"],
                action,
                states.candidate_key(run["uid"], k["idx"]),
                states.candidate_state(k, run["uid"]),
                **fields,
            )
        return self.get_candidate(candidate_id)
