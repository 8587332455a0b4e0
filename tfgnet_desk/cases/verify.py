"""Integrity check of a case store: audit chains, row states and stored files.

Finds: an audit entry edited, deleted or re-ordered (hash chain, head); a row of any table edited
(its state no longer the last state its chain recorded), deleted (recorded but gone) or inserted behind
the application's back (present but never recorded); a case deleted (the store chain recorded it); a
stored evidence copy, candidate PNG or restored face changed or missing (hash of the file against the
recorded hash);
the append-only triggers of the audit table dropped.

What it cannot find on its own: someone with write access to the database file can cut the newest entries
of a chain *and* move ``audit_head`` back consistently. Entries that record no row state (a report
written, a bundle exported) leave no other trace. Against that, write the head down outside the store
(every report page prints it, ``case export`` prints it) and check later with an **anchor**:
``case verify CASE --head SEQ:HASH`` fails when the chain no longer reaches that entry or that entry's
hash differs.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from tfgnet_desk.cases import audit, states
from tfgnet_desk.cases.evidence import sha256_file
from tfgnet_desk.cases.restored import restored_entries


@dataclass
class VerifyReport:
    """What :func:`verify_store` checked and the problems it found (``ok`` when there are none)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not a sign of tampering
    cases: int = 0
    audit_entries: int = 0
    rows: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = "OK" if self.ok else f"FAILED: {len(self.problems)} problem(s)"
        return (
            f"{head} - {self.cases} case(s), {self.audit_entries} audit entries, {self.rows} rows, "
            f"{self.files} files checked"
        )


APPEND_ONLY_TRIGGERS = ("audit_no_update", "audit_no_delete")


def parse_anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` or ``HASH:SEQ`` (as printed on report footers) -> (seq, hash prefix, lower case).
    The hash may be shortened to 16 or more hex digits."""
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) != 2:
        raise ValueError(f"an anchor is SEQ:HASH (as on a report footer), not {text[:80]!r}")
    seq_part, hash_part = parts if parts[0].isdigit() else parts[::-1]
    h = hash_part.lower()
    if not seq_part.isdigit() or len(h) < 16 or len(h) > 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"an anchor is SEQ:HASH with at least 16 hex digits of the hash, not {text[:80]!r}")
    return int(seq_part), h


def check_anchor(chain: list, anchor: tuple[int, str], uid: str) -> list[str]:
    """Problems of ``chain`` (the case's entries, in order) against an external anchor (seq, hash)."""
    seq, prefix = anchor
    entry = next((e for e in chain if e.seq == seq), None)
    if entry is None:
        last = chain[-1].seq if chain else 0
        return [f"case {uid}: the audit chain ends at entry {last}, before the anchor's entry {seq}: cut"]
    if not entry.hash.startswith(prefix):
        return [f"case {uid}: audit entry {seq} is {entry.hash[:16]}…, not the anchor's {prefix[:16]}…"]
    return []


def _heads(conn) -> dict[str, tuple[int, str]]:
    return {r[0]: (int(r[1]), r[2]) for r in conn.execute("SELECT chain, seq, hash FROM audit_head")}


def verify_store(
    conn: sqlite3.Connection,
    home: Path,
    case_id: int | None = None,
    anchor: tuple[int, str] | None = None,
) -> VerifyReport:
    """Verify the whole store, or one case (and the store chain) when ``case_id`` is given; ``anchor``
    (seq, hash prefix; needs ``case_id``) is a head written down earlier (see the module docstring).

    ``conn`` should be inside a read transaction, so that everything is checked on one snapshot.
    """
    if anchor is not None and case_id is None:
        raise ValueError("an anchor (--head) names one case's chain: give the case")
    rep = VerifyReport()
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name in APPEND_ONLY_TRIGGERS:
        if name not in present:
            rep.problems.append(f"the audit table's append-only trigger {name} was dropped")
    heads = _heads(conn)
    store_chain = audit.read_chain(conn, audit.STORE_CHAIN)
    rep.audit_entries += len(store_chain)
    rep.problems += audit.verify_chain(store_chain, heads.get(audit.STORE_CHAIN, (0, audit.GENESIS)))
    cases = {r["uid"]: int(r["id"]) for r in conn.execute("SELECT id, uid FROM cases")}
    created = {e.object.split(":", 1)[1] for e in store_chain if e.action in ("case.create", "case.import")}
    if case_id is None:
        for uid in sorted(created - cases.keys()):
            rep.problems.append(f"case {uid}: recorded as created but its row was deleted")
        for uid in sorted(cases.keys() - created):
            rep.problems.append(f"case {uid}: present but never recorded in the store audit chain")
        chains = {r[0] for r in conn.execute("SELECT DISTINCT chain FROM audit")} | set(heads)
        for uid in sorted(chains - cases.keys() - {audit.STORE_CHAIN}):
            rep.problems.append(f"audit chain {uid!r} belongs to no case: the case row was deleted")
        todo = sorted(cases.items(), key=lambda kv: kv[1])
        _note_unreferenced_files(conn, home, rep)
    else:
        todo = [(uid, cid) for uid, cid in cases.items() if cid == case_id]
    for uid, cid in todo:
        _verify_case(conn, home, uid, cid, heads.get(uid), rep)
        if anchor is not None:
            rep.problems += check_anchor(audit.read_chain(conn, uid), anchor, uid)
            rep.notes.append(f"anchored: entry {anchor[0]} checked against {anchor[1][:16]}…")
    rep.cases = len(todo)
    return rep


def _verify_case(conn, home, uid: str, case_id: int, head, rep: VerifyReport) -> None:
    chain = audit.read_chain(conn, uid)
    rep.audit_entries += len(chain)
    if head is None:
        rep.problems.append(f"case {uid}: no audit head recorded")
    rep.problems += audit.verify_chain(chain, head)
    recorded: dict[str, str | None] = {}
    for e in chain:
        if "state" in e.details:
            recorded[e.object] = e.details["state"]
        elif e.action.endswith(".delete"):
            recorded[e.object] = None
    current = states.case_row_states(conn, case_id)
    rep.rows += len(current)
    for key, h in current.items():
        if key not in recorded:
            rep.problems.append(
                f"case {uid}: {key} is not in the audit log (inserted outside the application)"
            )
        elif recorded[key] != h:
            rep.problems.append(f"case {uid}: {key} was edited after its last recorded change")
    for key, h in recorded.items():
        if h is not None and key not in current:
            rep.problems.append(f"case {uid}: {key} was deleted")
    for r in conn.execute("SELECT sha256, stored_path FROM evidence WHERE case_id = ?", (case_id,)):
        _check_file(home / r["stored_path"], r["sha256"], f"case {uid}: evidence {r['sha256'][:12]}", rep)
    for r in conn.execute(
        "SELECT k.sha256, k.file, k.idx, r.uid FROM candidates k JOIN runs r "
        "ON r.id = k.run_id WHERE r.case_id = ?",
        (case_id,),
    ):
        _check_file(home / r["file"], r["sha256"], f"case {uid}: candidate {r['uid'][:8]}/{r['idx']}", rep)
    for r in conn.execute("SELECT uid, provenance FROM runs WHERE case_id = ?", (case_id,)):
        for i, e in enumerate(restored_entries({"provenance": _provenance(r["provenance"])})):
            label = f"case {uid}: restored face {r['uid'][:8]}/{i}"
            _check_file(home / e["file"], str(e.get("sha256", "")), label, rep)


def _provenance(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _check_file(path, expected: str, label: str, rep: VerifyReport) -> None:
    rep.files += 1
    if not path.is_file():
        rep.problems.append(f"{label}: stored file {path.name} is missing")
        return
    try:
        actual = sha256_file(path)
    except OSError as exc:
        rep.problems.append(f"{label}: stored file could not be read ({exc})")
        return
    if actual != expected:
        rep.problems.append(
            f"{label}: stored file {path.name} was changed (hash {actual[:12]}..., "
            f"recorded {expected[:12]}...)"
        )


def _note_unreferenced_files(conn, home, rep: VerifyReport) -> None:
    """Stored files that no row names: left by a run that was interrupted before it was recorded."""
    used = {r[0] for r in conn.execute("SELECT stored_path FROM evidence")}
    used |= {r[0] for r in conn.execute("SELECT file FROM candidates")}
    for (text,) in conn.execute("SELECT provenance FROM runs"):
        used |= {e["file"] for e in restored_entries({"provenance": _provenance(text)})}
    for folder in ("evidence", "candidates"):
        d = home / folder
        if not d.is_dir():
            continue
        extra = sorted(p.name for p in d.iterdir() if p.is_file() and f"{folder}/{p.name}" not in used)
        if extra:
            rep.notes.append(
                f"{len(extra)} file(s) in {folder}/ belong to no record (an interrupted import "
                f"or run): {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}"
            )
