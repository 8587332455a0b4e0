"""The audit hash chain and ``verify``: every kind of tampering with rows, log entries or files is found."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.audit import GENESIS, AuditEntry, entry_hash, verify_chain


@pytest.fixture()
def filled(settings, tmp_path):
    """A store with one case holding evidence, a run of 3 candidates, a pick and a note."""
    store = CaseStore(settings, actor="tester")
    cid = store.create_case("Case under test", reference="T-1")
    eid = store.evidence.import_file(cid, make_image(tmp_path / "e.png"), face_box=(1, 1, 20, 20))
    rid = store.runs.record(cid, [eid], fake_result())
    k = store.candidates.of_run(rid)[1]["id"]
    store.candidates.set_pick(k)
    store.candidates.annotate(k, "note")
    assert store.verify().ok
    yield store, cid, eid, rid, k
    store.close()


def tamper(store: CaseStore, sql: str, *args) -> None:
    """What someone editing the database file with another SQLite client can do."""
    conn = sqlite3.connect(store.settings.cases_db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    conn.execute(sql, args)
    conn.close()


def problems(store: CaseStore) -> str:
    rep = store.verify()
    assert not rep.ok, "verify did not notice the tampering"
    return "\n".join(rep.problems)


def test_intact_store_verifies(filled):
    store, cid, *_ = filled
    rep = store.verify()
    assert rep.ok and rep.problems == []
    assert rep.cases == 1 and rep.files == 4 and rep.rows == 6  # case, evidence, run, 3 candidates
    assert rep.audit_entries >= 10
    assert store.verify(cid).ok


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('UPDATE candidates SET scores = \'{"restored":{"raw":0.99}}\' WHERE idx = 0', "was edited"),
        ("UPDATE candidates SET picked = 1 WHERE idx = 2", "was edited"),
        ("UPDATE cases SET title = 'another title'", "was edited"),
        ("UPDATE evidence SET face_box = '[0,0,5,5]'", "was edited"),
        ("UPDATE runs SET prompt = 'a woman'", "was edited"),
        ("UPDATE runs SET parameters = '{\"seed\":1}'", "was edited"),
        ("UPDATE runs SET status = 'running', finished_at = NULL", "was edited"),
        ("UPDATE evidence SET kind = 'reference'", "was edited"),
        ("UPDATE runs SET reference_id = (SELECT MIN(id) FROM evidence)", "was edited"),
    ],
)
def test_edited_row_is_detected(filled, sql, expected):
    store = filled[0]
    tamper(store, sql)
    assert expected in problems(store)


def test_deleted_candidate_row_is_detected(filled):
    store, *_, k = filled
    tamper(store, "DELETE FROM candidates WHERE id = ?", k)
    assert "was deleted" in problems(store)


def test_a_running_run_is_covered_by_the_chain(filled, tmp_path):
    """start/add/finish each record a state: a candidate added or removed behind a running run is found."""
    store, cid, eid, *_ = filled
    rid = store.runs.start(cid, [eid], prompt="p", parameters={"n_candidates": 3})
    store.runs.add_candidate(rid, 0, 1, np.zeros((8, 8, 3), np.uint8))
    assert store.verify().ok
    tamper(store, "DELETE FROM candidates WHERE run_id = ?", rid)
    assert "was deleted" in problems(store)
    tamper(
        store,
        "INSERT INTO candidates (run_id, idx, seed, file, sha256) VALUES (?, 0, 1, 'candidates/x.png', 'x')",
        rid,
    )
    tamper(store, "UPDATE runs SET status = 'done' WHERE id = ?", rid)
    assert "was edited" in problems(store)


def test_deleted_case_is_detected(filled):
    store = filled[0]
    for table in ("candidates", "runs", "evidence", "cases"):
        tamper(store, f"DELETE FROM {table}")
    text = problems(store)
    assert "row was deleted" in text or "belongs to no case" in text


def test_row_inserted_behind_the_application_is_detected(filled):
    store, cid, *_ = filled
    tamper(
        store,
        "INSERT INTO evidence (case_id, sha256, original_path, stored_path, size, width, height, "
        "imported_at) VALUES (?, ?, 'x', 'evidence/x', 1, 1, 1, 'now')",
        cid,
        "0" * 64,
    )
    assert "not in the audit log" in problems(store)


def test_edited_audit_entry_is_detected(filled):
    store = filled[0]
    tamper(store, "UPDATE audit SET actor = 'mallory' WHERE seq = 3 AND chain != ''")
    assert "hash mismatch" in problems(store)


def test_recomputed_audit_entry_breaks_the_link(filled):
    """Rewriting an entry and its own hash still breaks the next entry's link."""
    store, cid, *_ = filled
    e = store.audit_trail(cid)[2]
    new_hash = entry_hash(e.chain, e.seq, e.at, "mallory", e.action, e.object, e.details, e.prev_hash)
    tamper(
        store,
        "UPDATE audit SET actor = 'mallory', hash = ? WHERE chain = ? AND seq = ?",
        new_hash,
        e.chain,
        e.seq,
    )
    assert "does not link" in problems(store)


def test_deleted_audit_entry_is_detected(filled):
    store, cid, *_ = filled
    uid = store.get_case(cid)["uid"]
    tamper(store, "DELETE FROM audit WHERE chain = ? AND seq = 4", uid)
    assert "missing or re-ordered" in problems(store)


def test_dropping_the_newest_audit_entry_is_detected(filled):
    store, cid, *_ = filled
    uid = store.get_case(cid)["uid"]
    tamper(
        store,
        "DELETE FROM audit WHERE chain = ? AND seq = (SELECT MAX(seq) FROM audit WHERE chain = ?)",
        uid,
        uid,
    )
    assert "entries were deleted" in problems(store)


def test_changed_evidence_file_is_detected(filled):
    store, _, eid, *_ = filled
    path = store.evidence.path(eid)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    assert "was changed" in problems(store)


def test_changed_or_missing_candidate_file_is_detected(filled):
    store, *_, k = filled
    path = store.candidates.path(k)
    os.chmod(path, 0o644)
    with open(path, "ab") as fh:
        fh.write(b"extra")
    assert "was changed" in problems(store)
    path.unlink()
    assert "is missing" in problems(store)


def _chain(n: int) -> list[AuditEntry]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        h = entry_hash("c", i, f"t{i}", "a", "act", f"o{i}", {"i": i}, prev)
        out.append(AuditEntry("c", i, f"t{i}", "a", "act", f"o{i}", {"i": i}, prev, h))
        prev = h
    return out


@hsettings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), data=st.data())
def test_chain_any_single_change_is_detected(n, data):
    chain = _chain(n)
    assert verify_chain(chain, (n, chain[-1].hash)) == []
    i = data.draw(st.integers(0, n - 1))
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "truncate"]))
    broken = list(chain)
    if kind == "edit":
        e = broken[i]
        broken[i] = AuditEntry(
            e.chain, e.seq, e.at, e.actor, e.action, e.object, {"i": -1}, e.prev_hash, e.hash
        )
    elif kind == "delete":
        del broken[i]
    elif kind == "swap":
        j = (i + 1) % n
        broken[i], broken[j] = broken[j], broken[i]
    else:
        broken = broken[:i]
    assert verify_chain(broken, (n, chain[-1].hash)) != []


def test_files_left_by_an_interrupted_run_are_noted_not_failed(filled):
    store = filled[0]
    (store.home / "candidates" / ("ab" * 32 + ".png")).write_bytes(b"orphan")
    rep = store.verify()
    assert rep.ok and len(rep.notes) == 1 and "candidates/" in rep.notes[0]


def test_a_cut_log_with_its_head_moved_back_needs_an_anchor_and_dropped_triggers_show(filled, capsys):
    """Issue 17 item 4: deleting a trailing entry that records no row state (a report written) and moving
    ``audit_head`` back passed verify, and verify did not notice the dropped append-only triggers."""
    from tfgnet_desk.cases.verify import parse_anchor

    store, cid, *_ = filled
    uid = store.get_case(cid)["uid"]
    store.log_event(cid, "report.write", file="r.pdf")
    seq, head = store.audit_head(cid)
    anchor = parse_anchor(f"{seq}:{head[:16]}")
    assert store.verify(cid, anchor).ok
    prev = store.audit_trail(cid)[-2]
    tamper(store, "DELETE FROM audit WHERE chain = ? AND seq = ?", uid, seq)
    tamper(store, "UPDATE audit_head SET seq = ?, hash = ? WHERE chain = ?", prev.seq, prev.hash, uid)
    assert "append-only trigger" in problems(store)  # the triggers the tamperer dropped
    conn = sqlite3.connect(store.settings.cases_db, isolation_level=None)
    for sql in SCHEMA_TRIGGERS:  # a careful tamperer puts them back (the SQL of cases/schema.py)
        conn.execute(sql)
    conn.close()
    assert store.verify(cid).ok  # restored triggers: without an anchor the cut is not detectable
    rep = store.verify(cid, anchor)
    assert not rep.ok and "before the anchor's entry" in "\n".join(rep.problems)
    from tfgnet_desk.cli import main

    home = str(store.settings.home)
    rc = main(["case", "--home", home, "verify", str(cid), "--head", f"{head[:20]}:{seq}"])
    assert rc != 0 and "cut" in capsys.readouterr().out
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_anchor("12:xyz")


SCHEMA_TRIGGERS = [
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is "
    "append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is "
    "append-only'); END",
]
