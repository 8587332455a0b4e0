"""``StoreDB``: the case store's database connection, its lock and its write transaction.

What the store's record classes share (:class:`~tfgnet_desk.cases.evidence_records.EvidenceRecords`,
:class:`~tfgnet_desk.cases.runs.RunRecords`, :class:`~tfgnet_desk.cases.candidates.CandidateRecords`
and :class:`~tfgnet_desk.cases.store.CaseStore` itself): each holds this object, not the whole store,
so that a part reaches the database only through this public API: :meth:`transaction` for writes (rows
and their audit entries commit together), :meth:`one` / :meth:`all` for reads, :meth:`append_audit`
inside a transaction.
"""

from __future__ import annotations

import contextlib
import getpass
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfgnet_desk.cases import audit, schema
from tfgnet_desk.cases.audit import AuditEntry, state_hash, utc_now
from tfgnet_desk.cases.rows import NotFound, decode_row, jsonable


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in the environment
        return "unknown"


def settings_actor(settings: Any) -> str:
    """The actor recorded in the audit log: the analyst's name from the settings, else the OS user."""
    return " ".join(str(getattr(settings, "analyst", "") or "").split()) or default_actor()


class StoreDB:
    """``cases.db`` of one ``Settings.home``, opened and migrated; calls are serialised by :attr:`lock`
    (one store may be shared between threads)."""

    def __init__(self, settings: Any, actor: str | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.actor = actor or settings_actor(settings)
        self.lock = threading.RLock()
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

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): rows and their audit entries commit together, or
        nothing does."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def one(self, sql: str, args: tuple, what: str) -> dict[str, Any]:
        """The one row ``sql`` selects, decoded; :class:`NotFound` (message ``what``) when there is none."""
        with self.lock:
            row = decode_row(self.conn.execute(sql, args).fetchone())
        if row is None:
            raise NotFound(what)
        return row

    def all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        """Every row ``sql`` selects, decoded."""
        with self.lock:
            return [decode_row(r) for r in self.conn.execute(sql, args).fetchall()]  # type: ignore[misc]

    def append_audit(
        self, case_uid: str, action: str, obj: str, state: dict[str, Any] | None, **details: Any
    ) -> AuditEntry:
        """Append one entry to ``case_uid``'s audit chain (inside :meth:`transaction`): ``action`` on
        ``obj``, with the hash of the row's new ``state`` and ``details``."""
        if state is not None:
            details["state"] = state_hash(state)
        return audit.append(self.conn, case_uid, self.actor, action, obj, jsonable(details))

    def update_row(self, table: str, row_id: int, what: str, **fields: Any) -> sqlite3.Row:
        """Set ``fields`` of row ``row_id`` of ``table`` (inside :meth:`transaction`); returns the new
        row, :class:`NotFound` (``no <what> <id>``) when there is none. The caller audits the change."""
        if table not in ("cases", "evidence", "runs", "candidates"):
            raise ValueError(f"not a store table: {table!r}")
        if self.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is None:
            raise NotFound(f"no {what} {row_id}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*fields.values(), row_id))
        return self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()

    def case_row(self, case_id: int) -> sqlite3.Row:
        """The raw ``cases`` row (inside :meth:`transaction` or under :attr:`lock`)."""
        row = self.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise NotFound(f"no case {case_id}")
        return row

    def touch(self, case_id: int) -> None:
        """Bump the case's ``updated_at`` (inside a write transaction)."""
        self.conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (utc_now(), case_id))
