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

import contextlib
import getpass
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.cases import audit, schema, states
from tfgnet_desk.cases.audit import AuditEntry, canonical_json, state_hash, utc_now
from tfgnet_desk.cases.evidence import EvidenceError, decode_evidence, read_evidence, store_evidence_bytes
from tfgnet_desk.cases.rows import NotFound, decode_row, jsonable
from tfgnet_desk.cases.runs import RunsMixin

CASE_FIELDS = ("title", "reference", "analyst", "notes", "status")
EVIDENCE_KINDS = ("crop", "reference")


def _box(box: Sequence[int] | None) -> str | None:
    if box is None:
        return None
    vals = [int(v) for v in box]
    if len(vals) != 4 or vals[2] <= vals[0] or vals[3] <= vals[1]:
        raise ValueError(f"a face box is (x0, y0, x1, y1) with x1 > x0 and y1 > y0, not {tuple(box)}")
    return canonical_json(vals)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in the environment
        return "unknown"


def settings_actor(settings: Any) -> str:
    """The actor recorded in the audit log: the analyst's name from the settings, else the OS user."""
    return " ".join(str(getattr(settings, "analyst", "") or "").split()) or default_actor()


class CaseStore(RunsMixin):
    """The case database of one ``Settings.home``. Use as a context manager or call :meth:`close`."""

    def __init__(self, settings: Any, actor: str | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.actor = actor or settings_actor(settings)
        self._lock = threading.RLock()
        self.home.mkdir(parents=True, exist_ok=True)
        self.conn = schema.connect(settings.cases_db)
        self.conn.row_factory = sqlite3.Row
        try:
            self.migrated_from, self.schema_version = schema.migrate(self.conn, on_step=self._log_migration)
        except BaseException:
            self.conn.close()
            raise

    def _log_migration(self, old: int, new: int) -> None:
        if new >= 1:  # the audit table exists from version 1
            audit.append(
                self.conn,
                audit.STORE_CHAIN,
                self.actor,
                "schema.migrate",
                f"schema:{new}",
                {"from": old, "to": new},
            )

    # Plumbing --------------------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): rows and their audit entries commit together, or
        nothing does. The public way to write beside the store's own methods (bundle import)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple, what: str) -> dict[str, Any]:
        with self._lock:
            row = decode_row(self.conn.execute(sql, args).fetchone())
        if row is None:
            raise NotFound(what)
        return row

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [decode_row(r) for r in self.conn.execute(sql, args).fetchall()]  # type: ignore[misc]

    def append_audit(
        self, case_uid: str, action: str, obj: str, state: dict[str, Any] | None, **details: Any
    ) -> AuditEntry:
        """Append one entry to ``case_uid``'s audit chain (inside :meth:`transaction`): ``action`` on
        ``obj``, with the hash of the row's new ``state`` and ``details``."""
        if state is not None:
            details["state"] = state_hash(state)
        return audit.append(self.conn, case_uid, self.actor, action, obj, jsonable(details))

    def _case_row(self, case_id: int) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise NotFound(f"no case {case_id}")
        return row

    def _touch(self, case_id: int) -> None:
        """Bump the case's ``updated_at`` and record its new state (inside a write transaction)."""
        self.conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (utc_now(), case_id))

    # Cases -----------------------------------------------------------------------------------------------
    def create_case(self, title: str, reference: str = "", analyst: str = "", notes: str = "") -> int:
        """A new open case; returns its id."""
        if not title.strip():
            raise ValueError("a case needs a title")
        uid, now = uuid.uuid4().hex, utc_now()
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO cases (uid, title, reference, analyst, status, notes, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
                (uid, title.strip(), reference, analyst, notes, now, now),
            )
            case_id = int(cur.lastrowid)
            row = self._case_row(case_id)
            self.append_audit(
                audit.STORE_CHAIN, "case.create", states.case_key(uid), None, title=title.strip()
            )
            self.append_audit(
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
        with self.transaction() as c:
            old = self._case_row(case_id)
            changed = {k: v for k, v in fields.items() if old[k] != v}
            if changed:
                sets = ", ".join(f"{k} = ?" for k in changed)
                c.execute(
                    f"UPDATE cases SET {sets}, updated_at = ? WHERE id = ?",
                    (*changed.values(), utc_now(), case_id),
                )
                row = self._case_row(case_id)
                self.append_audit(
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
        return self._one("SELECT * FROM cases WHERE id = ?", (case_id,), f"no case {case_id}")

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
        return self._all(sql + " ORDER BY c.updated_at DESC, c.id DESC", tuple(args))

    def search_cases(self, text: str) -> list[dict[str, Any]]:
        return self.list_cases(search=text)

    def find_case(self, spec: str | int) -> int:
        """Resolve a case id, a uid (or a prefix of at least 4 characters) or an exact reference."""
        s = str(spec).strip()
        if s.isdigit():
            with self._lock:
                if self.conn.execute("SELECT 1 FROM cases WHERE id = ?", (int(s),)).fetchone():
                    return int(s)
        with self._lock:
            rows = self.conn.execute("SELECT id FROM cases WHERE reference = ?", (s,)).fetchall()
            if len(rows) != 1 and len(s) >= 4:
                rows = self.conn.execute(
                    "SELECT id FROM cases WHERE uid LIKE ?", (s.lower() + "%",)
                ).fetchall()
        if len(rows) == 1:
            return int(rows[0][0])
        raise NotFound(f"no case matches {s!r}" if not rows else f"{s!r} matches several cases")

    # Evidence --------------------------------------------------------------------------------------------
    def import_evidence(
        self,
        case_id: int,
        path: Path | str,
        face_box: Sequence[int] | None = None,
        note: str = "",
        kind: str = "crop",
    ) -> int:
        """Validate, hash and copy ``path`` into the store (read-only); returns the evidence id.

        ``kind`` is 'crop' (an image of the person to generate from) or 'reference' (a photo of a known
        person that candidates are scored against). Raises :class:`EvidenceError` (a sentence for the
        analyst) for a file that is not a usable image; nothing is stored then. The same bytes imported
        twice into a case return the existing id, whatever ``kind`` the second import names: the row
        keeps the kind it was first imported as (see :meth:`start_run`, which accepts either kind).
        """
        src = Path(path)
        data, img = read_evidence(src)
        return self._add_evidence(case_id, data, img, str(src.resolve()), src.name, face_box, note, kind)

    def import_evidence_bytes(
        self,
        case_id: int,
        data: bytes,
        name: str,
        *,
        face_box: Sequence[int] | None = None,
        note: str = "",
        kind: str = "crop",
    ) -> int:
        """Import pasted or dragged image data as :meth:`import_evidence` imports a file.

        The bytes are validated as an image before anything is written (:class:`EvidenceError`
        otherwise) and stored content-addressed; ``original_path`` is ``pasted:<name>`` and
        ``original_name`` is ``name``.
        """
        img = decode_evidence(data, name or "pasted image")
        data = bytes(data)
        return self._add_evidence(case_id, data, img, f"pasted:{name}", name, face_box, note, kind)

    def _add_evidence(
        self,
        case_id: int,
        data: bytes,
        img: np.ndarray,
        original_path: str,
        original_name: str,
        face_box: Sequence[int] | None,
        note: str,
        kind: str,
    ) -> int:
        if kind not in EVIDENCE_KINDS:
            raise ValueError(f"evidence kind is one of {EVIDENCE_KINDS}, not {kind!r}")
        box = _box(face_box)
        with self._lock:  # a missing case is refused before a file is written
            self._case_row(case_id)
        stored = store_evidence_bytes(self.home, data)
        h, w = img.shape[:2]
        with self.transaction() as c:
            case = self._case_row(case_id)
            dup = c.execute(
                "SELECT * FROM evidence WHERE case_id = ? AND sha256 = ?", (case_id, stored.sha256)
            ).fetchone()
            if dup is None:
                cur = c.execute(
                    "INSERT INTO evidence (case_id, sha256, original_path, original_name, stored_path, size, "
                    "width, height, face_box, note, imported_at, kind) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        case_id,
                        stored.sha256,
                        original_path,
                        original_name,
                        stored.relpath,
                        stored.size,
                        w,
                        h,
                        box,
                        note,
                        utc_now(),
                        kind,
                    ),
                )
                ev_id = int(cur.lastrowid)
                row = c.execute("SELECT * FROM evidence WHERE id = ?", (ev_id,)).fetchone()
                self.append_audit(
                    case["uid"],
                    "evidence.import",
                    states.evidence_key(stored.sha256),
                    states.evidence_state(row),
                    original_path=original_path,
                    size=stored.size,
                    kind=kind,
                )
                return ev_id
        ev_id = int(dup["id"])
        if states.late_column(dup, "excluded_at") is not None:  # a removed crop imported again
            self.include_evidence(ev_id)
        return ev_id

    def set_face_box(self, evidence_id: int, face_box: Sequence[int] | None) -> dict[str, Any]:
        return self._update_evidence(evidence_id, "evidence.face_box", face_box=_box(face_box))

    def annotate_evidence(self, evidence_id: int, note: str) -> dict[str, Any]:
        return self._update_evidence(evidence_id, "evidence.note", note=note)

    def record_detection(self, evidence_id: int, box: Sequence[int] | None, detector: str) -> None:
        """Keep the face detection of a stored image (derived data: not audited, see schema version 4)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE evidence SET detected_box = ?, detector = ? WHERE id = ?",
                (_box(box), str(detector), evidence_id),
            )

    def stored_detection(self, evidence_id: int) -> tuple[tuple[int, int, int, int] | None, str] | None:
        """``(box, detector)`` kept by :meth:`record_detection`, or None when the image was never analysed."""
        row = self.get_evidence(evidence_id)
        if row.get("detector") is None:
            return None
        box = row.get("detected_box")
        return (tuple(int(v) for v in box) if box else None), str(row["detector"])

    def exclude_evidence(self, evidence_id: int, reason: str = "") -> dict[str, Any]:
        """Take a crop out of use (audited ``evidence.excluded``); its file and row stay in the case."""
        return self._update_evidence(
            evidence_id, "evidence.excluded", excluded_at=utc_now(), excluded_reason=reason.strip()
        )

    def include_evidence(self, evidence_id: int) -> dict[str, Any]:
        """Undo :meth:`exclude_evidence` (audited ``evidence.included``)."""
        return self._update_evidence(evidence_id, "evidence.included", excluded_at=None, excluded_reason=None)

    def _update_evidence(self, evidence_id: int, action: str, **fields: Any) -> dict[str, Any]:
        with self.transaction() as c:
            old = c.execute("SELECT * FROM evidence WHERE id = ?", (evidence_id,)).fetchone()
            if old is None:
                raise NotFound(f"no evidence {evidence_id}")
            sets = ", ".join(f"{k} = ?" for k in fields)
            c.execute(f"UPDATE evidence SET {sets} WHERE id = ?", (*fields.values(), evidence_id))
            row = c.execute("SELECT * FROM evidence WHERE id = ?", (evidence_id,)).fetchone()
            case = self._case_row(row["case_id"])
            self.append_audit(
                case["uid"],
                action,
                states.evidence_key(row["sha256"]),
                states.evidence_state(row),
                **{k: json.loads(v) if k == "face_box" and v else v for k, v in fields.items()},
            )
        return self.get_evidence(evidence_id)

    def get_evidence(self, evidence_id: int) -> dict[str, Any]:
        return self._one("SELECT * FROM evidence WHERE id = ?", (evidence_id,), f"no evidence {evidence_id}")

    def list_evidence(self, case_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        """The case's evidence in import order; ``kind`` ('crop' or 'reference') filters, None: all."""
        if kind is None:
            return self._all("SELECT * FROM evidence WHERE case_id = ? ORDER BY id", (case_id,))
        return self._all(
            "SELECT * FROM evidence WHERE case_id = ? AND COALESCE(kind, 'crop') = ? ORDER BY id",
            (case_id, kind),
        )

    def evidence_path(self, evidence_id: int) -> Path:
        """The read-only stored copy (never the analyst's original)."""
        return self.home / self.get_evidence(evidence_id)["stored_path"]

    def load_evidence_image(self, evidence_id: int) -> np.ndarray:
        from tfgnet_desk.imaging import load_image

        return load_image(self.evidence_path(evidence_id))

    # Audit -----------------------------------------------------------------------------------------------
    def log_event(self, case_id: int, action: str, **details: Any) -> AuditEntry:
        """Record an event that changes no row (a report written, a bundle exported, a verification)."""
        with self.transaction():
            case = self._case_row(case_id)
            return self.append_audit(case["uid"], action, states.case_key(case["uid"]), None, **details)

    def audit_trail(self, case_id: int) -> list[AuditEntry]:
        """The case's audit chain, oldest first."""
        with self._lock:
            return audit.read_chain(self.conn, self._case_row(case_id)["uid"])

    def audit_head(self, case_id: int) -> tuple[int, str]:
        """``(seq, hash)`` of the case chain's newest entry: write it down to anchor the log externally."""
        with self._lock:
            uid = self._case_row(case_id)["uid"]
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


__all__ = ["CaseStore", "EvidenceError", "NotFound", "jsonable"]
