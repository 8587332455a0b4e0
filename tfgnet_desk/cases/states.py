"""Canonical row states: what the audit chain records (as a hash) about each row of the case store.

A state names other rows by stable keys (evidence by SHA-256, runs by uid), never by local row ids, so a
case keeps the same states after a bundle is imported into another store. Columns added by a later
schema version are left out while NULL, so that migrated rows keep the states recorded before.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tfgnet_desk.cases.audit import state_hash


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return {"_raw": text}


def late_column(r: sqlite3.Row, column: str) -> Any:
    """A column added by a later schema version: None in a database that does not have it yet."""
    return r[column] if column in r.keys() else None


def case_key(uid: str) -> str:
    return f"case:{uid}"


def evidence_key(sha256: str) -> str:
    return f"evidence:{sha256}"


def run_key(uid: str) -> str:
    return f"run:{uid}"


def candidate_key(run_uid: str, idx: int) -> str:
    return f"candidate:{run_uid}/{idx}"


def case_state(r: sqlite3.Row) -> dict[str, Any]:
    return {
        k: r[k]
        for k in ("uid", "title", "reference", "analyst", "status", "notes", "created_at", "updated_at")
    }


def evidence_state(r: sqlite3.Row) -> dict[str, Any]:
    s = {
        k: r[k]
        for k in (
            "sha256",
            "original_path",
            "original_name",
            "size",
            "width",
            "height",
            "note",
            "imported_at",
        )
    }
    s["face_box"] = _json(r["face_box"], None)
    kind = late_column(r, "kind")
    if kind not in (None, "crop"):  # NULL (before version 3) and 'crop' mean the same: left out alike
        s["kind"] = kind
    if late_column(r, "excluded_at") is not None:  # in use (NULL, or before version 4): left out alike
        s["excluded_at"] = r["excluded_at"]
        s["excluded_reason"] = late_column(r, "excluded_reason") or ""
    return s


def run_state(r: sqlite3.Row, evidence_shas: list[str], reference_sha: str | None = None) -> dict[str, Any]:
    """``reference_sha``: SHA-256 of the run's reference photo (``runs.reference_id``), when it has one."""
    s = {
        k: r[k]
        for k in ("uid", "prompt", "profile", "device", "model_hash", "status", "started_at", "finished_at")
    }
    s["evidence"] = evidence_shas
    s["parameters"] = _json(r["parameters"], {})
    s["library_versions"] = _json(r["library_versions"], {})
    s["provenance"] = _json(r["provenance"], {})
    if late_column(r, "error") is not None:
        s["error"] = r["error"]
    if late_column(r, "reference_id") is not None:
        s["reference"] = reference_sha or f"missing-evidence-row-{r['reference_id']}"
    return s


def candidate_state(r: sqlite3.Row, run_uid: str) -> dict[str, Any]:
    s = {k: r[k] for k in ("idx", "seed", "file", "sha256", "note")}
    s["run"] = run_uid
    s["picked"] = bool(r["picked"])
    s["scores"] = _json(r["scores"], {})
    if late_column(r, "pixel_sha256") is not None:
        s["pixel_sha256"] = r["pixel_sha256"]
    return s


def case_row_states(conn: sqlite3.Connection, case_id: int) -> dict[str, str]:
    """Object key -> state hash for the case row and every row that belongs to the case."""
    out: dict[str, str] = {}
    c = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if c is None:
        return out
    out[case_key(c["uid"])] = state_hash(case_state(c))
    ev_sha: dict[int, str] = {}
    for e in conn.execute("SELECT * FROM evidence WHERE case_id = ?", (case_id,)):
        ev_sha[e["id"]] = e["sha256"]
        out[evidence_key(e["sha256"])] = state_hash(evidence_state(e))
    for r in conn.execute("SELECT * FROM runs WHERE case_id = ?", (case_id,)):
        ids = _json(r["evidence_ids"], [])
        shas = [ev_sha.get(i, f"missing-evidence-row-{i}") for i in ids] if isinstance(ids, list) else []
        ref = late_column(r, "reference_id")
        ref_sha = ev_sha.get(ref) if ref is not None else None
        out[run_key(r["uid"])] = state_hash(run_state(r, shas, ref_sha))
        for k in conn.execute("SELECT * FROM candidates WHERE run_id = ?", (r["id"],)):
            out[candidate_key(r["uid"], k["idx"])] = state_hash(candidate_state(k, r["uid"]))
    return out
