"""The append-only audit log: one hash chain per case, plus one for the store itself.

Why per case: a case bundle (export/import) carries its own chain, which still verifies after it has been
imported into another store, because nothing in an entry's hash depends on local row ids. Objects are
named by stable keys (``case:<uid>``, ``evidence:<sha256>``, ``run:<uid>``, ``candidate:<run uid>/<i>``).

Each entry's hash is SHA-256 over the canonical JSON of
``[chain, seq, at, actor, action, object, details, prev_hash]``; ``prev_hash`` is the previous entry's
hash in the same chain (64 zeros for the first). A mutation of a row records the SHA-256 of the row's
canonical state in ``details["state"]``; :func:`verify_chain` checks the links, and the store checks that
every row's current state is the last state its chain recorded, so an edited or deleted row of any table,
or an edited, deleted or re-ordered audit entry, is detected. ``audit_head`` keeps each chain's last
sequence and hash, so that dropping the newest entries is detected too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
STORE_CHAIN = ""  # the chain of store-level events (cases created or imported)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept; the form every hash is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_hash(state: dict[str, Any]) -> str:
    """SHA-256 of a row's canonical state (see ``states.py``)."""
    return sha256_text(canonical_json(state))


def utc_now() -> str:
    """UTC timestamp with microseconds, ISO 8601 with a ``Z``; sorts as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry as stored (``details`` decoded)."""

    chain: str
    seq: int
    at: str
    actor: str
    action: str
    object: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "object": self.object,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditEntry:
        return cls(
            chain=d["chain"],
            seq=int(d["seq"]),
            at=d["at"],
            actor=d["actor"],
            action=d["action"],
            object=d["object"],
            details=dict(d["details"]),
            prev_hash=d["prev_hash"],
            hash=d["hash"],
        )

    def expected_hash(self) -> str:
        return entry_hash(
            self.chain, self.seq, self.at, self.actor, self.action, self.object, self.details, self.prev_hash
        )


def entry_hash(
    chain: str, seq: int, at: str, actor: str, action: str, obj: str, details: dict[str, Any], prev_hash: str
) -> str:
    return sha256_text(canonical_json([chain, seq, at, actor, action, obj, details, prev_hash]))


def append(
    conn: sqlite3.Connection,
    chain: str,
    actor: str,
    action: str,
    obj: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to ``chain``. Call inside the caller's write transaction (``BEGIN IMMEDIATE``),
    so that the entry commits or rolls back with the change it records."""
    details = dict(details or {})
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE chain = ?", (chain,)).fetchone()
    seq, prev = (int(row[0]) + 1, row[1]) if row else (1, GENESIS)
    at = utc_now()
    h = entry_hash(chain, seq, at, actor, action, obj, details, prev)
    conn.execute(
        "INSERT INTO audit (chain, seq, at, actor, action, object, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (chain, seq, at, actor, action, obj, canonical_json(details), prev, h),
    )
    conn.execute(
        "INSERT INTO audit_head (chain, seq, hash) VALUES (?, ?, ?) "
        "ON CONFLICT(chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (chain, seq, h),
    )
    return AuditEntry(chain, seq, at, actor, action, obj, details, prev, h)


def insert_entries(conn: sqlite3.Connection, entries: list[AuditEntry]) -> None:
    """Insert a verified chain verbatim (bundle import); the head follows the last entry."""
    for e in entries:
        conn.execute(
            "INSERT INTO audit (chain, seq, at, actor, action, object, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.chain,
                e.seq,
                e.at,
                e.actor,
                e.action,
                e.object,
                canonical_json(e.details),
                e.prev_hash,
                e.hash,
            ),
        )
    if entries:
        last = entries[-1]
        conn.execute(
            "INSERT INTO audit_head (chain, seq, hash) VALUES (?, ?, ?) "
            "ON CONFLICT(chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (last.chain, last.seq, last.hash),
        )


def read_chain(conn: sqlite3.Connection, chain: str) -> list[AuditEntry]:
    """All entries of ``chain`` in sequence order. Undecodable details are kept as ``{"_raw": text}``,
    which then fails the hash check instead of crashing verification."""
    out = []
    for r in conn.execute(
        "SELECT chain, seq, at, actor, action, object, details, prev_hash, hash FROM audit "
        "WHERE chain = ? ORDER BY seq",
        (chain,),
    ):
        try:
            details = json.loads(r[6])
            if not isinstance(details, dict):
                details = {"_raw": r[6]}
        except (TypeError, json.JSONDecodeError):
            details = {"_raw": r[6]}
        out.append(AuditEntry(r[0], int(r[1]), r[2], r[3], r[4], r[5], details, r[7], r[8]))
    return out


def verify_chain(entries: list[AuditEntry], head: tuple[int, str] | None = None) -> list[str]:
    """Problems found in one chain (empty: intact). ``head`` is the recorded ``(seq, hash)`` of its end."""
    problems: list[str] = []
    prev = GENESIS
    label = entries[0].chain if entries else ""
    name = f"audit chain {label!r}" if label else "store audit chain"
    for i, e in enumerate(entries, start=1):
        if e.seq != i:
            problems.append(f"{name}: entry {i} missing or re-ordered (found seq {e.seq})")
            return problems
        if e.prev_hash != prev:
            problems.append(f"{name}: entry {e.seq} does not link to the entry before it")
        if e.expected_hash() != e.hash:
            problems.append(f"{name}: entry {e.seq} ({e.action} {e.object}) was edited: hash mismatch")
        prev = e.hash
    if head is not None:
        last = (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS)
        if (int(head[0]), head[1]) != last:
            problems.append(
                f"{name}: ends at entry {last[0]} but the recorded head is entry {head[0]}: "
                "entries were deleted or the head was edited"
            )
    return problems
