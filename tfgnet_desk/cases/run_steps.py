"""The steps of a run's life inside one write transaction of the case store: insert the run, add a
candidate, finish the run, each with its audit entries. ``store.runs`` (:mod:`.runs`) composes them, once
per call for a live run and all three in one transaction for a whole recorded run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from tfgnet_desk.cases import states
from tfgnet_desk.cases.audit import canonical_json, utc_now
from tfgnet_desk.cases.evidence import StoredFile
from tfgnet_desk.cases.rows import NotFound, jsonable
from tfgnet_desk.cases.store_db import StoreDB

RUNNING = "running"
FINISHED_STATES = ("done", "failed", "cancelled", "interrupted")


def start_tx(
    db: StoreDB,
    c: sqlite3.Connection,
    uid: str,
    case_id: int,
    evidence_ids: Sequence[int],
    *,
    prompt: str,
    parameters: dict,
    profile: str,
    device: str,
    model_hash: str,
    library_versions: dict | None,
    reference_id: int | None,
    started_at: str | None,
) -> int:
    case = db.case_row(case_id)
    ev_ids = [int(e) for e in evidence_ids]
    shas = [case_evidence_sha(c, case_id, e) for e in ev_ids]
    ref_sha = None
    if reference_id is not None:
        reference_id = int(reference_id)
        ref_sha = case_evidence_sha(c, case_id, reference_id, "reference photo")
    params = jsonable(dict(parameters or {}))
    versions = jsonable(dict(library_versions or {}))
    cur = c.execute(
        "INSERT INTO runs (uid, case_id, evidence_ids, prompt, parameters, profile, device, model_hash, "
        "library_versions, provenance, status, started_at, finished_at, error, reference_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, NULL, NULL, ?)",
        (
            uid,
            case_id,
            canonical_json(ev_ids),
            str(prompt),
            canonical_json(params),
            str(profile or ""),
            str(device or ""),
            str(model_hash or ""),
            canonical_json(versions),
            RUNNING,
            started_at or utc_now(),
            reference_id,
        ),
    )
    run_id = int(cur.lastrowid)
    run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    db.append_audit(
        case["uid"],
        "run.start",
        states.run_key(uid),
        states.run_state(run, shas, ref_sha),
        prompt=str(prompt),
        model_hash=str(model_hash or ""),
        evidence=shas,
        reference=ref_sha,
    )
    return run_id


def case_evidence_sha(c: sqlite3.Connection, case_id: int, ev_id: int, what: str = "evidence") -> str:
    row = c.execute("SELECT sha256 FROM evidence WHERE id = ? AND case_id = ?", (ev_id, case_id)).fetchone()
    if row is None:
        raise NotFound(f"{what} {ev_id} is not in case {case_id}")
    return str(row[0])


def run_context(db: StoreDB, c: sqlite3.Connection, run_id: int) -> tuple[sqlite3.Row, str]:
    """The run row and its case's uid (the audit chain to write to)."""
    run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run, db.case_row(run["case_id"])["uid"]


def add_tx(
    db: StoreDB,
    c: sqlite3.Connection,
    run_id: int,
    index: int,
    seed: int,
    stored: StoredFile,
    pix: str,
    scores: dict | None,
) -> int:
    run, case_uid = run_context(db, c, run_id)
    require_running(run)
    require_new_index(c, run_id, index)
    clean = jsonable(dict(scores or {}))
    cur = c.execute(
        "INSERT INTO candidates (run_id, idx, seed, file, sha256, pixel_sha256, scores) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, index, seed, stored.relpath, stored.sha256, pix, canonical_json(clean)),
    )
    k = c.execute("SELECT * FROM candidates WHERE id = ?", (cur.lastrowid,)).fetchone()
    db.append_audit(
        case_uid,
        "candidate.store",
        states.candidate_key(run["uid"], index),
        states.candidate_state(k, run["uid"]),
        seed=seed,
        sha256=stored.sha256,
        scores=clean,
    )
    return int(k["id"])


def finish_tx(
    db: StoreDB,
    c: sqlite3.Connection,
    run_id: int,
    status: str,
    *,
    provenance: dict | None = None,
    library_versions: dict | None = None,
    error: str | None = None,
) -> None:
    if status not in FINISHED_STATES:
        raise ValueError(f"a run finishes as one of {FINISHED_STATES}, not {status!r}")
    run, case_uid = run_context(db, c, run_id)
    require_running(run)
    sets = {"status": status, "finished_at": utc_now(), "error": None if error is None else str(error)}
    if provenance is not None:
        sets["provenance"] = canonical_json(jsonable(dict(provenance)))
    if library_versions is not None:
        sets["library_versions"] = canonical_json(jsonable(dict(library_versions)))
    c.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?", (*sets.values(), run_id))
    run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    ev_ids = json.loads(run["evidence_ids"])
    shas = [case_evidence_sha(c, run["case_id"], int(e)) for e in ev_ids]
    ref = run["reference_id"]
    ref_sha = case_evidence_sha(c, run["case_id"], int(ref)) if ref is not None else None
    n = c.execute("SELECT COUNT(*) FROM candidates WHERE run_id = ?", (run_id,)).fetchone()[0]
    db.append_audit(
        case_uid,
        "run.finish",
        states.run_key(run["uid"]),
        states.run_state(run, shas, ref_sha),
        status=status,
        n_candidates=int(n),
        error=run["error"],
    )
    db.touch(run["case_id"])
    db.append_audit(
        case_uid,
        "case.touch",
        states.case_key(case_uid),
        states.case_state(db.case_row(run["case_id"])),
    )


def require_new_index(c: sqlite3.Connection, run_id: int, index: int) -> None:
    if c.execute("SELECT 1 FROM candidates WHERE run_id = ? AND idx = ?", (run_id, index)).fetchone():
        raise ValueError(f"run {run_id} already has a candidate {index}")


def require_running(run: sqlite3.Row) -> None:
    if run["status"] != RUNNING:
        raise ValueError(f"run {run['id']} is {run['status']}, not running: it takes no more changes")
