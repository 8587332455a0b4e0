"""``CaseStore``: the analyst's cases, evidence, runs and candidates, with an append-only audit chain.

Everything lives under ``settings.home``: ``cases.db`` (SQLite, WAL, foreign keys on), ``evidence/<sha256>``
(read-only copies) and ``candidates/<sha256>.png`` (with provenance text chunks). Every mutation writes its
row(s) and the audit entry that records the new row state in one ``BEGIN IMMEDIATE`` transaction, so a
crash leaves either both or neither. One store may be shared between threads (calls are serialised by a
lock) and several processes may open the same database (WAL lets readers run while one writes).

Rows come back as plain dicts with JSON columns decoded:

- case: ``id, uid, title, reference, analyst, status ('open'|'closed'), notes, created_at, updated_at``
- evidence: ``id, case_id, sha256, original_path, original_name, stored_path, size, width, height,
  face_box ([x0, y0, x1, y1] or None), note, imported_at, kind ('crop'|'reference')``
- run: ``id, uid, case_id, evidence_ids, prompt, parameters, profile, device, model_hash,
  library_versions, provenance, status ('running'|'done'|'failed'|'cancelled'|'interrupted'),
  started_at, finished_at, error, reference_id (evidence id of the reference photo, or None)``
- candidate: ``id, run_id, idx, seed, file, sha256, pixel_sha256, scores ({name: {raw, calibrated,
  backend, ...}}; names 'evidence' and 'reference', or 'restored' in runs recorded before candidates
  were scored against the evidence: see ``score_labels.py``), picked (bool), note``
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tfgnet_desk.cases import audit, states
from tfgnet_desk.cases.audit import AuditEntry, utc_now
from tfgnet_desk.cases.candidates import CandidateRecords
from tfgnet_desk.cases.evidence import EvidenceError
from tfgnet_desk.cases.evidence_records import EVIDENCE_KINDS, EvidenceRecords
from tfgnet_desk.cases.rows import NotFound, jsonable
from tfgnet_desk.cases.runs import RunRecords
from tfgnet_desk.cases.store_db import StoreDB, default_actor, settings_actor

CASE_FIELDS = ("title", "reference", "analyst", "notes", "status")


class CaseStore:
    """The case database of one ``Settings.home``. Use as a context manager or call :meth:`close`.

    Composed of parts that share one :class:`StoreDB` (connection, lock, transaction): the cases
    themselves and the audit chain here, ``store.evidence`` (:class:`EvidenceRecords`), ``store.runs``
    (:class:`RunRecords`) and ``store.candidates`` (:class:`CandidateRecords`).
    """

    def __init__(self, settings: Any, actor: str | None = None) -> None:
        self.db = StoreDB(settings, actor)
        self.settings, self.home = settings, self.db.home
        self.migrated_from, self.schema_version = self.db.migrated_from, self.db.schema_version
        self.evidence = EvidenceRecords(self.db)
        self.runs = RunRecords(self.db)
        self.candidates = CandidateRecords(self.db)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def actor(self) -> str:
        """The name every audited action of this store records (the window sets it when the analyst
        gives a name)."""
        return self.db.actor

    @actor.setter
    def actor(self, name: str) -> None:
        self.db.actor = name

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): rows and their audit entries commit together, or
        nothing does. The public way to write beside the store's own methods (bundle import)."""
        return self.db.transaction()

    def append_audit(
        self, case_uid: str, action: str, obj: str, state: dict[str, Any] | None, **details: Any
    ) -> AuditEntry:
        """Append one entry to ``case_uid``'s audit chain (inside :meth:`transaction`)."""
        return self.db.append_audit(case_uid, action, obj, state, **details)

    # Cases -----------------------------------------------------------------------------------------------
    def create_case(self, title: str, reference: str = "", analyst: str = "", notes: str = "") -> int:
        """A new open case; returns its id."""
        if not title.strip():
            raise ValueError("a case needs a title")
        uid, now = uuid.uuid4().hex, utc_now()
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO cases (uid, title, reference, analyst, status, notes, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
                (uid, title.strip(), reference, analyst, notes, now, now),
            )
            case_id = int(cur.lastrowid)
            row = self.db.case_row(case_id)
            self.db.append_audit(
                audit.STORE_CHAIN, "case.create", states.case_key(uid), None, title=title.strip()
            )
            self.db.append_audit(
                uid,
                "case.create",
                states.case_key(uid),
                states.case_state(row),
                title=title.strip(),
                reference=reference,
                analyst=analyst,
            )
        return case_id

    def update_case(self, case_id: int, **fields: str) -> dict[str, Any]:
        """Change any of title, reference, analyst, notes, status ('open'/'closed'); returns the case."""
        bad = set(fields) - set(CASE_FIELDS)
        if bad:
            raise ValueError(f"unknown case fields: {sorted(bad)}")
        if "status" in fields and fields["status"] not in ("open", "closed"):
            raise ValueError("status is 'open' or 'closed'")
        if "title" in fields and not str(fields["title"]).strip():
            raise ValueError("a case needs a title")
        with self.db.transaction():
            old = self.db.case_row(case_id)
            changed = {k: v for k, v in fields.items() if old[k] != v}
            if changed:
                row = self.db.update_row("cases", case_id, "case", **changed, updated_at=utc_now())
                self.db.append_audit(
                    row["uid"],
                    "case.update",
                    states.case_key(row["uid"]),
                    states.case_state(row),
                    changes={k: {"from": old[k], "to": v} for k, v in changed.items()},
                )
        return self.get_case(case_id)

    def rename_case(self, case_id: int, title: str) -> dict[str, Any]:
        return self.update_case(case_id, title=title)

    def close_case(self, case_id: int) -> dict[str, Any]:
        return self.update_case(case_id, status="closed")

    def reopen_case(self, case_id: int) -> dict[str, Any]:
        return self.update_case(case_id, status="open")

    def get_case(self, case_id: int) -> dict[str, Any]:
        return self.db.one("SELECT * FROM cases WHERE id = ?", (case_id,), f"no case {case_id}")

    def list_cases(self, status: str | None = None, search: str | None = None) -> list[dict[str, Any]]:
        """Cases, newest first; ``status`` filters open/closed; ``search`` matches title, reference,
        analyst, notes, evidence file names and run prompts (case-insensitive substring)."""
        where, args = [], []
        if status:
            where.append("c.status = ?")
            args.append(status)
        if search:
            pat = f"%{search}%"
            where.append(
                "(c.title LIKE ? OR c.reference LIKE ? OR c.analyst LIKE ? OR c.notes LIKE ? OR c.uid LIKE ? "
                "OR EXISTS (SELECT 1 FROM runs r WHERE r.case_id = c.id AND r.prompt LIKE ?) "
                "OR EXISTS (SELECT 1 FROM evidence e WHERE e.case_id = c.id AND e.original_name LIKE ?))"
            )
            args += [pat] * 7
        sql = "SELECT c.* FROM cases c" + (" WHERE " + " AND ".join(where) if where else "")
        return self.db.all(sql + " ORDER BY c.updated_at DESC, c.id DESC", tuple(args))

    def search_cases(self, text: str) -> list[dict[str, Any]]:
        return self.list_cases(search=text)

    def find_case(self, spec: str | int) -> int:
        """Resolve a case id, a uid (or a prefix of at least 4 characters) or an exact reference."""
        s = str(spec).strip()
        if s.isdigit():
            with self.db.lock:
                if self.conn.execute("SELECT 1 FROM cases WHERE id = ?", (int(s),)).fetchone():
                    return int(s)
        with self.db.lock:
            rows = self.conn.execute("SELECT id FROM cases WHERE reference = ?", (s,)).fetchall()
            if len(rows) != 1 and len(s) >= 4:
                rows = self.conn.execute(
                    "SELECT id FROM cases WHERE uid LIKE ?", (s.lower() + "%",)
                ).fetchall()
        if len(rows) == 1:
            return int(rows[0][0])
        raise NotFound(f"no case matches {s!r}" if not rows else f"{s!r} matches several cases")

    # Audit -----------------------------------------------------------------------------------------------
    def log_event(self, case_id: int, action: str, **details: Any) -> AuditEntry:
        """Record an event that changes no row (a report written, a bundle exported, a verification)."""
        with self.db.transaction():
            case = self.db.case_row(case_id)
            return self.db.append_audit(case["uid"], action, states.case_key(case["uid"]), None, **details)

    def audit_trail(self, case_id: int) -> list[AuditEntry]:
        """The case's audit chain, oldest first."""
        with self.db.lock:
            return audit.read_chain(self.conn, self.db.case_row(case_id)["uid"])

    def audit_head(self, case_id: int) -> tuple[int, str]:
        """``(seq, hash)`` of the case chain's newest entry: write it down to anchor the log externally."""
        with self.db.lock:
            uid = self.db.case_row(case_id)["uid"]
            row = self.conn.execute("SELECT seq, hash FROM audit_head WHERE chain = ?", (uid,)).fetchone()
        return (int(row[0]), row[1]) if row else (0, audit.GENESIS)

    def export_case(self, case_id: int, out: Path | str) -> Path:
        """Write the case as a bundle zip (see :mod:`.bundle`)."""
        from tfgnet_desk.cases.bundle import export_case

        return export_case(self, case_id, out)

    def import_case(self, bundle: Path | str) -> int:
        """Import a bundle zip as a new case; returns its id (see :mod:`.bundle`)."""
        from tfgnet_desk.cases.bundle import import_case

        return import_case(self, bundle)

    def verify(self, case_id: int | None = None, anchor: tuple[int, str] | None = None):
        """Check the audit chains, every row's state and every stored file, and the case's chain against
        an external ``anchor`` (seq, hash prefix) when given; see :mod:`.verify`."""
        from tfgnet_desk.cases.verify import verify_store

        # Its own connection, in one read transaction: a consistent snapshot (WAL) that neither waits for
        # writers nor holds this store's lock while files are hashed.
        conn = sqlite3.connect(str(self.settings.cases_db), timeout=30.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN")
            return verify_store(conn, self.home, case_id, anchor)
        finally:
            conn.close()


__all__ = [
    "EVIDENCE_KINDS",
    "CaseStore",
    "EvidenceError",
    "NotFound",
    "default_actor",
    "jsonable",
    "settings_actor",
]
