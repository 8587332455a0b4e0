"""What the window shows of the case store: rows -> list entries, and the per-case description draft.

The description is the analyst's working text, saved as they type (one small file per case under
``home/drafts/``) so that nothing typed is lost; the text a run actually used is recorded with the run in
the case store and its audit chain.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfgnet_desk.gui.widgets.case_list import CaseRow
from tfgnet_desk.gui.widgets.run_history import RunRow


def local_time(stamp: str | None) -> str:
    """An ISO UTC timestamp as local 'YYYY-MM-DD HH:MM' (today: only 'HH:MM')."""
    if not stamp:
        return ""
    try:
        dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone()
    if dt.date() == datetime.now().astimezone().date():
        return dt.strftime("%H:%M")
    return dt.strftime("%Y-%m-%d %H:%M")


def case_rows(cases: list[dict[str, Any]]) -> list[CaseRow]:
    return [CaseRow(c["id"], c["title"], c["status"], local_time(c.get("updated_at"))) for c in cases]


def run_rows(runs: list[dict[str, Any]], counts: dict[Any, int]) -> list[RunRow]:
    """Newest first, numbered from 1 in the order they were run."""
    rows = []
    for number, run in enumerate(runs, start=1):
        params = run.get("parameters") or {}
        rows.append(
            RunRow(
                run["id"],
                number,
                counts.get(run["id"], 0),
                int(params.get("seed", 0) or 0),
                local_time(run.get("started_at")),
                str(run.get("status", "")),
            )
        )
    return rows[::-1]


def draft_path(home: Path, case_uid: str) -> Path:
    return Path(home) / "drafts" / f"case-{case_uid}.txt"


def save_draft(home: Path, case_uid: str, text: str) -> None:
    """Atomic write of the description draft."""
    path = draft_path(home, case_uid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_draft(home: Path, case_uid: str, fallback: str = "") -> str:
    path = draft_path(home, case_uid)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return fallback
