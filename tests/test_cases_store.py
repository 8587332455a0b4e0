"""CaseStore: cases, evidence, runs, candidates round-trip; evidence safety; schema and WAL settings."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tfgnet_desk.cases import CaseStore, EvidenceError, NotFound
from tfgnet_desk.cases.evidence import SYNTHETIC_LABEL, pixel_sha256, read_png_text, sha256_file
from tfgnet_desk.cases.schema import SCHEMA_VERSION


def make_image(path: Path, seed: int = 0, size: tuple[int, int] = (48, 64)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def fake_result(n: int = 3, seed: int = 7, prompt: str = "a man in his forties with a beard"):
    """A stand-in for the pipeline's GenerationResult with the same attribute names. Its scores are
    'restored' ones, as runs recorded before scores were taken against the evidence hold them (the
    store, verify-run and the report must keep reading such runs)."""
    rng = np.random.default_rng(seed)
    cands = [
        SimpleNamespace(
            index=i,
            seed=seed + i,
            image=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            scores={"restored": {"raw": 0.3 + i / 10, "calibrated": 0.5 + i / 20, "backend": "dlib-resnet"}},
        )
        for i in range(n)
    ]
    prov = {  # the pipeline's provenance layout (provenance.build_provenance)
        "request": {
            "prompt": prompt,
            "n_candidates": n,
            "seed": seed,
            "steps": 4,
            "guidance": 5.0,
            "strength": 0.6,
        },
        "model": {"manifest_hash": "f" * 64, "profile": "tiny"},
        "libraries": {"torch": "2.13.0", "diffusers": "0.42.0"},
        "device": "cpu",
    }
    return SimpleNamespace(candidates=cands, provenance=prov)


def write_old_evidence(store: CaseStore, case_id: int, path: Path) -> int:
    """An evidence row as versions 1 and 2 wrote it (no ``kind``), with its audit entry, through SQL."""
    from tfgnet_desk.cases import audit, states
    from tfgnet_desk.cases.evidence import store_evidence_bytes

    data = path.read_bytes()
    stored = store_evidence_bytes(store.home, data)
    with Image.open(path) as im:
        w, h = im.size
    with store.transaction() as c:
        cur = c.execute(
            "INSERT INTO evidence (case_id, sha256, original_path, original_name, stored_path, size, width, "
            "height, face_box, note, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '', 'then')",
            (case_id, stored.sha256, str(path), path.name, stored.relpath, stored.size, w, h),
        )
        row = c.execute("SELECT * FROM evidence WHERE id = ?", (cur.lastrowid,)).fetchone()
        uid = c.execute("SELECT uid FROM cases WHERE id = ?", (case_id,)).fetchone()[0]
        audit.append(
            c,
            uid,
            "old",
            "evidence.import",
            states.evidence_key(stored.sha256),
            {"state": audit.state_hash(states.evidence_state(row))},
        )
    return int(cur.lastrowid)


@pytest.fixture()
def store(settings):
    with CaseStore(settings, actor="tester") as s:
        yield s


def test_database_settings(store, settings):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert settings.cases_db.is_file()


def test_case_lifecycle_round_trip(store):
    cid = store.create_case("Kiosk robbery", reference="R-2026-17", analyst="A. Analyst", notes="camera 3")
    case = store.get_case(cid)
    assert (case["title"], case["reference"], case["analyst"], case["notes"], case["status"]) == (
        "Kiosk robbery",
        "R-2026-17",
        "A. Analyst",
        "camera 3",
        "open",
    )
    store.rename_case(cid, "Kiosk robbery, Main St")
    store.close_case(cid)
    case = store.get_case(cid)
    assert case["title"] == "Kiosk robbery, Main St" and case["status"] == "closed"
    other = store.create_case("Burglary")
    assert [c["id"] for c in store.list_cases(status="open")] == [other]
    assert [c["id"] for c in store.search_cases("main st")] == [cid]
    assert store.find_case("R-2026-17") == cid
    assert store.find_case(case["uid"][:6]) == cid
    assert store.find_case(str(other)) == other
    with pytest.raises(NotFound):
        store.get_case(999)
    with pytest.raises(ValueError):
        store.create_case("   ")
    actions = [e.action for e in store.audit_trail(cid)]
    assert actions == ["case.create", "case.update", "case.update"]
    assert store.verify().ok


def test_evidence_is_hashed_and_stored_read_only(store, tmp_path):
    src = make_image(tmp_path / "crop.png")
    before = (src.read_bytes(), os.stat(src).st_mtime_ns, stat.S_IMODE(os.stat(src).st_mode))
    cid = store.create_case("c")
    eid = store.evidence.import_file(cid, src, face_box=(4, 5, 40, 50), note="frame 112")
    ev = store.evidence.get(eid)
    digest = sha256_file(src)
    assert ev["sha256"] == digest and ev["size"] == src.stat().st_size
    assert (ev["width"], ev["height"], ev["face_box"], ev["note"]) == (48, 64, [4, 5, 40, 50], "frame 112")
    stored = store.evidence.path(eid)
    assert stored.name == digest and stored.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o444
    assert (src.read_bytes(), os.stat(src).st_mtime_ns, stat.S_IMODE(os.stat(src).st_mode)) == before
    assert store.evidence.import_file(cid, src) == eid  # the same file twice: one row
    img = store.evidence.load_image(eid)
    assert img.shape == (64, 48, 3)
    store.evidence.set_face_box(eid, (0, 0, 10, 10))
    assert store.evidence.get(eid)["face_box"] == [0, 0, 10, 10]
    with pytest.raises(ValueError):
        store.evidence.set_face_box(eid, (10, 10, 5, 5))
    assert store.verify().ok


def test_removing_evidence_excludes_it_keeps_the_file_and_is_audited(store, tmp_path):
    src = make_image(tmp_path / "crop.png")
    cid = store.create_case("c")
    eid = store.evidence.import_file(cid, src)
    stored = store.evidence.path(eid)
    store.evidence.exclude(eid, "wrong person")
    ev = store.evidence.get(eid)
    assert ev["excluded_at"] and ev["excluded_reason"] == "wrong person"
    assert stored.is_file() and [r["id"] for r in store.evidence.of_case(cid)] == [eid]  # never deleted
    actions = [e.action for e in store.audit_trail(cid)]
    assert actions[-1] == "evidence.excluded"
    assert store.verify().ok
    store.evidence.include(eid)
    assert store.evidence.get(eid)["excluded_at"] is None
    assert store.audit_trail(cid)[-1].action == "evidence.included"
    # removed again, then the same image imported again: back in use, one row, audited
    store.evidence.exclude(eid)
    assert store.evidence.import_file(cid, src) == eid
    assert store.evidence.get(eid)["excluded_at"] is None
    assert [e.action for e in store.audit_trail(cid)][-2:] == ["evidence.excluded", "evidence.included"]
    assert store.verify().ok


def test_the_face_detection_is_kept_with_the_evidence_outside_its_audited_state(store, tmp_path):
    cid = store.create_case("c")
    eid = store.evidence.import_file(cid, make_image(tmp_path / "crop.png"))
    assert store.evidence.stored_detection(eid) is None  # never analysed
    n_audit = len(store.audit_trail(cid))
    store.evidence.record_detection(eid, (3, 4, 30, 40), "hog")
    assert store.evidence.stored_detection(eid) == ((3, 4, 30, 40), "hog")
    store.evidence.record_detection(eid, None, "")  # analysed, nothing found: kept too
    assert store.evidence.stored_detection(eid) == (None, "")
    assert len(store.audit_trail(cid)) == n_audit and store.verify().ok  # derived data, not evidence


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"])
def test_bad_evidence_is_refused_and_nothing_is_stored(store, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    cid = store.create_case("c")
    n_audit = len(store.audit_trail(cid))
    with pytest.raises(EvidenceError) as err:
        store.evidence.import_file(cid, bad)
    assert "bad.png" in str(err.value)
    assert store.evidence.of_case(cid) == []
    assert len(store.audit_trail(cid)) == n_audit
    ev_dir = store.settings.evidence_dir
    assert not ev_dir.exists() or list(ev_dir.iterdir()) == []
    with pytest.raises(EvidenceError):
        store.evidence.import_file(cid, tmp_path / "missing.jpg")


def test_run_and_candidates_round_trip(store, tmp_path):
    cid = store.create_case("c")
    eid = store.evidence.import_file(cid, make_image(tmp_path / "e.png"))
    result = fake_result()
    rid = store.runs.record(cid, [eid], result)
    run = store.runs.get(rid)
    assert run["prompt"] == "a man in his forties with a beard"
    assert run["parameters"]["steps"] == 4 and run["parameters"]["seed"] == 7
    assert run["model_hash"] == "f" * 64 and run["library_versions"]["torch"] == "2.13.0"
    assert run["evidence_ids"] == [eid] and run["status"] == "done"
    assert store.runs.find(run["uid"][:6]) == rid
    cands = store.candidates.of_run(rid)
    assert [c["idx"] for c in cands] == [0, 1, 2] and [c["seed"] for c in cands] == [7, 8, 9]
    for c, orig in zip(cands, result.candidates, strict=True):
        path = store.candidates.path(c["id"])
        assert path.name == c["sha256"] + ".png" and sha256_file(path) == c["sha256"]
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(im.convert("RGB")), orig.image)
        assert c["pixel_sha256"] == pixel_sha256(orig.image)
        assert c["scores"]["restored"]["backend"] == "dlib-resnet"
        assert c["scores"]["restored"]["raw"] == pytest.approx(orig.scores["restored"]["raw"])
        text = read_png_text(path)
        assert text["Synthetic"] == "true" and text["Description"] == SYNTHETIC_LABEL
        assert (text["tfgnet:run"], text["tfgnet:seed"], text["tfgnet:model_hash"]) == (
            run["uid"],
            str(c["seed"]),
            "f" * 64,
        )
    store.candidates.set_pick(cands[1]["id"])
    store.candidates.annotate(cands[1]["id"], "closest to the witness statement")
    picked = store.candidates.picked(cid)
    assert [(p["idx"], p["note"], p["picked"]) for p in picked] == [
        (1, "closest to the witness statement", True)
    ]
    store.candidates.set_pick(cands[1]["id"], False)
    assert store.candidates.picked(cid) == []
    assert store.runs.of_case(cid)[0]["id"] == rid
    assert store.verify().ok


def test_record_run_rejects_foreign_evidence_and_rolls_back(store, tmp_path):
    a, b = store.create_case("a"), store.create_case("b")
    eb = store.evidence.import_file(b, make_image(tmp_path / "e.png"))
    n = len(store.audit_trail(a))
    with pytest.raises(NotFound):
        store.runs.record(a, [eb], fake_result())
    assert store.runs.of_case(a) == [] and len(store.audit_trail(a)) == n
    rid = store.runs.record(
        a, [], None, prompt="a woman", status="cancelled", error="cancelled by the analyst"
    )
    assert store.runs.get(rid)["status"] == "cancelled" and store.candidates.of_run(rid) == []
    assert store.verify().ok


def test_audit_log_is_append_only_in_sql(store):
    store.create_case("c")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit")


def test_store_reopens_and_is_shared_between_instances(settings, tmp_path):
    with CaseStore(settings) as s1:
        cid = s1.create_case("persisted")
        s1.evidence.import_file(cid, make_image(tmp_path / "e.png"))
    with CaseStore(settings) as s2, CaseStore(settings) as s3:
        assert s2.get_case(cid)["title"] == "persisted"
        s3.rename_case(cid, "renamed")
        assert s2.get_case(cid)["title"] == "renamed"
        assert s2.migrated_from == SCHEMA_VERSION
        assert s2.verify().ok


def test_migration_from_version_1_keeps_data_and_verifies(settings, tmp_path, monkeypatch):
    from tfgnet_desk.cases import audit, schema, states

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    with CaseStore(settings) as old:
        assert old.schema_version == 1
        assert "pixel_sha256" not in {r[1] for r in old.conn.execute("PRAGMA table_info(candidates)")}
        cid = old.create_case("written by version 1")
        eid = write_old_evidence(old, cid, make_image(tmp_path / "e.png"))
        uid = old.get_case(cid)["uid"]
        with old.transaction() as c:  # a version-1 run and candidate, as version 1 wrote them
            c.execute(
                "INSERT INTO runs (uid, case_id, evidence_ids, prompt, parameters, status, started_at) "
                "VALUES ('r1', ?, ?, 'a man', '{}', 'done', 'then')",
                (cid, f"[{eid}]"),
            )
            run = c.execute("SELECT * FROM runs WHERE uid = 'r1'").fetchone()
            sha = old.evidence.get(eid)["sha256"]
            audit.append(
                c,
                uid,
                "v1",
                "run.record",
                states.run_key("r1"),
                {"state": audit.state_hash(states.run_state(run, [sha]))},
            )
        assert old.verify().ok
    monkeypatch.undo()
    with CaseStore(settings) as new:
        assert (new.migrated_from, new.schema_version) == (1, SCHEMA_VERSION)
        assert new.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert new.get_case(cid)["title"] == "written by version 1"
        run = new.runs.of_case(cid)[0]
        assert run["uid"] == "r1" and run["error"] is None
        rep = new.verify()
        assert rep.ok, rep.problems
        migrations = [
            e for e in audit.read_chain(new.conn, audit.STORE_CHAIN) if e.action == "schema.migrate"
        ]
        assert [(e.details["from"], e.details["to"]) for e in migrations] == [(0, 1), (1, 2), (2, 3), (3, 4)]
        rid = new.runs.record(cid, [eid], fake_result(n=1))  # the new columns work after the migration
        assert new.candidates.of_run(rid)[0]["pixel_sha256"]


def test_newer_or_foreign_database_is_refused(settings, tmp_path):
    from tfgnet_desk.cases.schema import SchemaError

    with CaseStore(settings):
        pass
    conn = sqlite3.connect(settings.cases_db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        CaseStore(settings)
    other = settings.with_(home=tmp_path / "other")
    other.home.mkdir()
    conn = sqlite3.connect(other.cases_db)
    conn.execute("CREATE TABLE notes (x)")
    conn.close()
    with pytest.raises(SchemaError, match="not a tfgnet-desk"):
        CaseStore(other)


def test_provenance_values_are_made_json_safe(store):
    from tfgnet_desk.cases.rows import jsonable

    prov = {"nan": np.float32("nan"), "inf": float("inf"), "arr": np.arange(3), "t": (1, 2), "i": np.int64(4)}
    assert jsonable(prov) == {"nan": None, "inf": None, "arr": [0, 1, 2], "t": [1, 2], "i": 4}
    cid = store.create_case("c")
    result = fake_result(n=1)
    result.provenance.update(prov)
    rid = store.runs.record(cid, [], result)
    assert store.runs.get(rid)["provenance"]["arr"] == [0, 1, 2]
    assert store.verify().ok
