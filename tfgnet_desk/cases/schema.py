"""The case database schema, its version (``PRAGMA user_version``) and the migrations between versions.

Opening a store migrates an older database forward inside one write transaction, so that a crash during
a migration leaves the old version intact. Each migration is a list of SQL statements; migration ``n``
takes a database from version ``n - 1`` to ``n``. Columns added by a later version are NULL in rows
written before it, and the row-state hashes (``store.py``) leave NULL late columns out, so that migrated
rows still match the states that the audit chain recorded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

SCHEMA_VERSION = 4

_V1 = [
    """CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        reference TEXT NOT NULL DEFAULT '',
        analyst TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        notes TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE evidence (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        sha256 TEXT NOT NULL,
        original_path TEXT NOT NULL,
        original_name TEXT NOT NULL DEFAULT '',
        stored_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        face_box TEXT,
        note TEXT NOT NULL DEFAULT '',
        imported_at TEXT NOT NULL,
        UNIQUE (case_id, sha256)
    )""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        evidence_ids TEXT NOT NULL,
        prompt TEXT NOT NULL,
        parameters TEXT NOT NULL,
        profile TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        model_hash TEXT NOT NULL DEFAULT '',
        library_versions TEXT NOT NULL DEFAULT '{}',
        provenance TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT
    )""",
    """CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        idx INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        scores TEXT NOT NULL DEFAULT '{}',
        picked INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        UNIQUE (run_id, idx)
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        object TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        UNIQUE (chain, seq)
    )""",
    "CREATE TABLE audit_head (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)",
    "CREATE INDEX evidence_case ON evidence(case_id)",
    "CREATE INDEX runs_case ON runs(case_id)",
    "CREATE INDEX candidates_run ON candidates(run_id)",
    # The log is append-only for the application; the hash chain catches whoever drops these triggers.
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is "
    "append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is "
    "append-only'); END",
]

_V2 = [
    # Hash of the decoded pixels (shape + RGB bytes): what verify-run compares, independent of PNG encoding.
    "ALTER TABLE candidates ADD COLUMN pixel_sha256 TEXT",
    # Why a run failed or was cancelled.
    "ALTER TABLE runs ADD COLUMN error TEXT",
]

_V3 = [
    # What an evidence image is: a 'crop' of the person to generate from, or a 'reference' photo of a known
    # person that candidates are scored against. NULL (rows written before version 3) means 'crop'.
    "ALTER TABLE evidence ADD COLUMN kind TEXT CHECK (kind IN ('crop', 'reference'))",
    # The reference photo a run's 'reference' identity scores were computed against (NULL: none).
    "ALTER TABLE runs ADD COLUMN reference_id INTEGER REFERENCES evidence(id)",
]

_V4 = [
    # Evidence the analyst removed from the case: the stored file and the row stay (evidence is never
    # deleted), the crop is no longer offered for runs. NULL: in use. Set and cleared by audited actions
    # (evidence.excluded / evidence.included).
    "ALTER TABLE evidence ADD COLUMN excluded_at TEXT",
    "ALTER TABLE evidence ADD COLUMN excluded_reason TEXT",
    # The face detection of the stored image (JSON box or NULL, and the detector that answered, '' when
    # none found): derived from the evidence, kept so that reopening a case does not analyse every image
    # again. Not part of the evidence's audited state (it can always be recomputed).
    "ALTER TABLE evidence ADD COLUMN detected_box TEXT",
    "ALTER TABLE evidence ADD COLUMN detector TEXT",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4}


class SchemaError(RuntimeError):
    """The database is newer than this program, or not a case database."""


def connect(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit), WAL, foreign keys on, full sync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":  # pragma: no cover - only on file systems without shared memory
        raise SchemaError(f"could not switch {path} to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, target: int | None = None, on_step: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Bring the database to ``target``; returns ``(from_version, to_version)``.

    All steps run in one ``BEGIN IMMEDIATE`` transaction; ``on_step(old, new)`` is called inside it after
    each step (the store uses it to write a ``schema.migrate`` audit entry).
    """
    target = SCHEMA_VERSION if target is None else target
    current = version(conn)
    if current == target:  # nothing to do: take no write lock, so opening never waits for a writer
        return current, current
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = version(conn)
        if start > SCHEMA_VERSION:
            raise SchemaError(
                f"the case database has schema version {start}, newer than this program's "
                f"{SCHEMA_VERSION}; update tfgnet-desk"
            )
        if start == 0:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if names - {"sqlite_sequence"}:
                raise SchemaError("the file is an SQLite database but not a tfgnet-desk case database")
        for v in range(start + 1, target + 1):
            for stmt in MIGRATIONS[v]:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {v}")
            if on_step is not None:
                on_step(v - 1, v)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start, max(start, target)
