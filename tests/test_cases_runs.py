"""The run lifecycle of the case store (start, add candidates, finish, interrupted runs), reference photos,
pasted evidence, and the migration of a version-2 database to version 3."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image
from test_cases_store import fake_result, make_image, write_old_evidence

from tfgnet_desk.cases import CaseStore, EvidenceError, NotFound
from tfgnet_desk.cases.evidence import SYNTHETIC_LABEL, pixel_sha256, read_png_text, sha256_file
from tfgnet_desk.cases.schema import SCHEMA_VERSION


@pytest.fixture()
def store(settings):
    with CaseStore(settings, actor="tester") as s:
        yield s


@pytest.fixture()
def case(store, tmp_path):
    """A case with one crop and one reference photo."""
    cid = store.create_case("lifecycle")
    crop = store.evidence.import_file(cid, make_image(tmp_path / "crop.png", seed=1))
    ref = store.evidence.import_file(cid, make_image(tmp_path / "ref.jpg", seed=2), kind="reference")
    return cid, crop, ref


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)


def _files(store: CaseStore) -> set[str]:
    d = store.home / "candidates"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_start_add_finish_lifecycle(store, case):
    cid, crop, ref = case
    n0 = len(store.audit_trail(cid))
    rid = store.runs.start(
        cid,
        [crop],
        prompt="a man in his forties",
        parameters={"n_candidates": 4, "seed": 10, "steps": 4},
        profile="tiny",
        device="cpu",
        model_hash="a" * 64,
        library_versions={"torch": "2.13.0"},
        reference_id=ref,
        started_at="2026-01-02T03:04:05.000000Z",
    )
    run = store.runs.get(rid)
    assert run["status"] == "running" and run["finished_at"] is None and run["error"] is None
    assert (run["reference_id"], run["evidence_ids"], run["started_at"]) == (
        ref,
        [crop],
        "2026-01-02T03:04:05.000000Z",
    )
    assert run["parameters"] == {"n_candidates": 4, "seed": 10, "steps": 4} and run["provenance"] == {}
    start = store.audit_trail(cid)[n0]
    assert start.action == "run.start" and start.object == f"run:{run['uid']}"
    assert start.details["reference"] == store.evidence.get(ref)["sha256"]
    assert store.verify().ok  # a running run verifies

    scores = {"reference": {"raw": np.float32(0.25), "calibrated": 0.5, "backend": "dlib-resnet"}}
    ids = [store.runs.add_candidate(rid, i, 10 + i, _image(i), scores if i else None) for i in range(2)]
    cands = store.candidates.of_run(rid)
    assert [c["id"] for c in cands] == ids and [c["seed"] for c in cands] == [10, 11]
    assert cands[0]["scores"] == {} and cands[1]["scores"]["reference"]["raw"] == pytest.approx(0.25)
    for c in cands:
        path = store.candidates.path(c["id"])
        assert path.name == c["sha256"] + ".png" and sha256_file(path) == c["sha256"]
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(im.convert("RGB")), _image(c["idx"]))
        assert c["pixel_sha256"] == pixel_sha256(_image(c["idx"]))
        text = read_png_text(path)
        assert text["Synthetic"] == "true" and text["Description"] == SYNTHETIC_LABEL
        assert (text["tfgnet:run"], text["tfgnet:candidate"], text["tfgnet:seed"]) == (
            run["uid"],
            str(c["idx"]),
            str(c["seed"]),
        )
        assert text["tfgnet:model_hash"] == "a" * 64
    assert store.verify().ok
    with pytest.raises(ValueError, match="already has a candidate 1"):
        store.runs.add_candidate(rid, 1, 99, _image(7))

    updated_before = store.get_case(cid)["updated_at"]
    done = store.runs.finish(
        rid,
        "cancelled",
        provenance={"seeds": [10, 11], "nan": float("nan")},
        library_versions={"torch": "2.13.0", "diffusers": "0.42.0"},
        error="cancelled by the analyst",
    )
    assert (
        done["status"] == "cancelled" and done["finished_at"] and done["error"] == "cancelled by the analyst"
    )
    assert done["provenance"] == {"seeds": [10, 11], "nan": None}
    assert done["library_versions"]["diffusers"] == "0.42.0"
    assert store.get_case(cid)["updated_at"] > updated_before
    actions = [e.action for e in store.audit_trail(cid)[n0:]]
    assert actions == ["run.start", "candidate.store", "candidate.store", "run.finish", "case.touch"]
    finish = store.audit_trail(cid)[-2]
    assert finish.details["status"] == "cancelled" and finish.details["n_candidates"] == 2

    files, n = _files(store), len(store.audit_trail(cid))
    with pytest.raises(ValueError, match="not running"):
        store.runs.add_candidate(rid, 2, 12, _image(2))
    with pytest.raises(ValueError, match="not running"):
        store.runs.finish(rid, "done")
    assert _files(store) == files and len(store.audit_trail(cid)) == n  # refused: nothing written
    assert len(store.candidates.of_run(rid)) == 2
    rep = store.verify()
    assert rep.ok and not rep.notes, (rep.problems, rep.notes)


def test_start_run_refuses_evidence_of_another_case_and_bad_finish(store, case, tmp_path):
    cid, crop, ref = case
    other = store.create_case("other")
    foreign = store.evidence.import_file(other, make_image(tmp_path / "x.png", seed=9))
    n = len(store.audit_trail(cid))
    with pytest.raises(NotFound, match="evidence"):
        store.runs.start(cid, [foreign], prompt="p", parameters={})
    with pytest.raises(NotFound, match="reference photo"):
        store.runs.start(cid, [crop], prompt="p", parameters={}, reference_id=foreign)
    with pytest.raises(NotFound):
        store.runs.start(999, [], prompt="p", parameters={})
    assert store.runs.of_case(cid) == [] and len(store.audit_trail(cid)) == n
    rid = store.runs.start(cid, [crop], prompt="p", parameters={})
    with pytest.raises(ValueError, match="finishes as one of"):
        store.runs.finish(rid, "running")
    with pytest.raises(ValueError, match="RGB"):
        store.runs.add_candidate(rid, 0, 1, np.zeros((8, 8), np.uint8))
    with pytest.raises(NotFound):
        store.runs.add_candidate(12345, 0, 1, _image(0))
    # a reference of either kind is accepted: the crop itself may be the reference
    rid2 = store.runs.start(cid, [crop], prompt="p", parameters={}, reference_id=crop)
    assert store.runs.get(rid2)["reference_id"] == crop
    assert store.verify().ok


def test_close_interrupted_runs(store, case):
    cid, crop, ref = case
    done = store.runs.record(cid, [crop], fake_result(n=1))
    a = store.runs.start(cid, [crop], prompt="a", parameters={}, reference_id=ref)
    store.runs.add_candidate(a, 0, 5, _image(5))
    b = store.runs.start(cid, [crop], prompt="b", parameters={})
    assert store.runs.close_interrupted() == [a, b]
    for rid, n in ((a, 1), (b, 0)):
        run = store.runs.get(rid)
        assert run["status"] == "interrupted" and run["finished_at"]
        assert run["error"] == "the application stopped during the run"
        assert len(store.candidates.of_run(rid)) == n
    assert store.runs.get(done)["status"] == "done"
    assert store.runs.get(a)["reference_id"] == ref
    assert store.runs.close_interrupted() == []
    finishes = [e for e in store.audit_trail(cid) if e.action == "run.finish"]
    assert [e.details["status"] for e in finishes] == ["done", "interrupted", "interrupted"]
    with pytest.raises(ValueError):
        store.runs.add_candidate(a, 1, 6, _image(6))
    assert store.verify().ok


def test_a_run_left_running_by_another_store_is_closed_on_reopen(settings, tmp_path):
    with CaseStore(settings) as s1:
        cid = s1.create_case("crash")
        eid = s1.evidence.import_file(cid, make_image(tmp_path / "e.png"))
        rid = s1.runs.start(cid, [eid], prompt="p", parameters={"seed": 1})
        s1.runs.add_candidate(rid, 0, 1, _image(1))
    with CaseStore(settings) as s2:  # what the app does when it opens the store after a crash
        assert s2.verify().ok
        assert s2.runs.close_interrupted("crashed") == [rid]
        assert s2.runs.get(rid)["error"] == "crashed"
        assert s2.verify().ok


def test_record_run_tells_the_same_audit_story_and_keeps_a_reference(store, case):
    cid, crop, ref = case
    n0 = len(store.audit_trail(cid))
    rid = store.runs.record(cid, [crop], fake_result(n=2), reference_id=ref)
    actions = [e.action for e in store.audit_trail(cid)[n0:]]
    assert actions == ["run.start", "candidate.store", "candidate.store", "run.finish", "case.touch"]
    run = store.runs.get(rid)
    assert run["status"] == "done" and run["reference_id"] == ref and run["finished_at"]
    assert run["provenance"]["model"]["manifest_hash"] == "f" * 64
    # the columns come from the pipeline's provenance keys, not from guesses
    assert run["model_hash"] == "f" * 64 and run["profile"] == "tiny" and run["device"] == "cpu"
    assert run["prompt"] == "a man in his forties with a beard" and run["parameters"]["steps"] == 4
    assert run["library_versions"] == {"torch": "2.13.0", "diffusers": "0.42.0"}
    with pytest.raises(ValueError, match="ends as one of"):
        store.runs.record(cid, [crop], None, prompt="p", status="running")
    with pytest.raises(NotFound):  # a reference from nowhere rolls the whole record back
        store.runs.record(cid, [crop], fake_result(n=1), reference_id=9999)
    assert [r["id"] for r in store.runs.of_case(cid)] == [rid]
    assert store.verify().ok


def test_import_evidence_bytes(store, tmp_path):
    cid = store.create_case("pasted")
    data = make_image(tmp_path / "p.png", seed=4).read_bytes()
    eid = store.evidence.import_bytes(cid, data, "clipboard.png", face_box=(1, 2, 20, 30), kind="reference")
    e = store.evidence.get(eid)
    assert (e["original_path"], e["original_name"], e["kind"], e["face_box"]) == (
        "pasted:clipboard.png",
        "clipboard.png",
        "reference",
        [1, 2, 20, 30],
    )
    assert store.evidence.path(eid).read_bytes() == data and e["size"] == len(data)
    assert (e["width"], e["height"]) == (48, 64)
    trail = store.audit_trail(cid)[-1]
    assert trail.action == "evidence.import" and trail.details["kind"] == "reference"
    # the same bytes again (as a crop, from a file): one row, which keeps the kind it was first given
    assert store.evidence.import_file(cid, tmp_path / "p.png") == eid
    assert store.evidence.get(eid)["kind"] == "reference"
    crop = store.evidence.import_bytes(cid, make_image(tmp_path / "q.png", seed=5).read_bytes(), "drop.png")
    assert [x["id"] for x in store.evidence.of_case(cid, kind="crop")] == [crop]
    assert [x["id"] for x in store.evidence.of_case(cid, kind="reference")] == [eid]
    assert [x["id"] for x in store.evidence.of_case(cid)] == [eid, crop]
    with pytest.raises(ValueError, match="kind"):
        store.evidence.import_bytes(cid, data, "x.png", kind="suspect")
    assert store.verify().ok


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"])
def test_bad_pasted_data_is_refused_and_nothing_is_written(store, data):
    cid = store.create_case("c")
    n = len(store.audit_trail(cid))
    with pytest.raises(EvidenceError, match="pasted.png"):
        store.evidence.import_bytes(cid, data, "pasted.png")
    assert store.evidence.of_case(cid) == [] and len(store.audit_trail(cid)) == n
    ev_dir = store.settings.evidence_dir
    assert not ev_dir.exists() or list(ev_dir.iterdir()) == []


def test_changing_kind_or_reference_behind_the_application_is_detected(store, case):
    cid, crop, ref = case
    rid = store.runs.record(cid, [crop], fake_result(n=1), reference_id=ref)
    assert store.verify().ok
    conn = sqlite3.connect(store.settings.cases_db, isolation_level=None)
    conn.execute("UPDATE runs SET reference_id = ? WHERE id = ?", (crop, rid))
    rep = store.verify()
    assert not rep.ok and any("run:" in p and "edited" in p for p in rep.problems)
    conn.execute("UPDATE runs SET reference_id = ? WHERE id = ?", (ref, rid))
    assert store.verify().ok
    conn.execute("UPDATE evidence SET kind = 'crop' WHERE id = ?", (ref,))
    rep = store.verify()
    assert not rep.ok and any("evidence:" in p and "edited" in p for p in rep.problems)
    conn.close()


def test_reference_photo_travels_in_a_bundle(store, case, settings, tmp_path):
    from tfgnet_desk.cases.bundle import build_manifest

    cid, crop, ref = case
    rid = store.runs.record(cid, [crop], fake_result(n=2), reference_id=ref)
    running = store.runs.start(cid, [crop], prompt="still going", parameters={}, reference_id=ref)
    store.runs.add_candidate(running, 0, 3, _image(3))
    bundle = store.export_case(cid, tmp_path / "case.zip")
    with CaseStore(settings.with_(home=tmp_path / "elsewhere"), actor="bob") as dest:
        new = dest.import_case(bundle)
        rep = dest.verify()
        assert rep.ok, rep.problems
        refs = dest.evidence.of_case(new, kind="reference")
        assert len(refs) == 1 and refs[0]["sha256"] == store.evidence.get(ref)["sha256"]
        assert dest.evidence.path(refs[0]["id"]).read_bytes() == store.evidence.path(ref).read_bytes()
        runs = {r["uid"]: r for r in dest.runs.of_case(new)}
        assert runs[store.runs.get(rid)["uid"]]["reference_id"] == refs[0]["id"]
        moved = runs[store.runs.get(running)["uid"]]
        assert moved["status"] == "running" and len(dest.candidates.of_run(moved["id"])) == 1
        keys = ("case", "evidence", "runs", "files")
        mine, theirs = build_manifest(store, cid), build_manifest(dest, new)
        assert {k: theirs[k] for k in keys} == {k: mine[k] for k in keys}


def test_version_2_database_migrates_to_3_and_verifies(settings, tmp_path, monkeypatch):
    from tfgnet_desk.cases import audit, schema, states

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    with CaseStore(settings) as old:
        assert old.schema_version == 2
        assert "kind" not in {r[1] for r in old.conn.execute("PRAGMA table_info(evidence)")}
        cid = old.create_case("written by version 2")
        eid = write_old_evidence(old, cid, make_image(tmp_path / "e.png"))
        sha = old.evidence.get(eid)["sha256"]
        uid = old.get_case(cid)["uid"]
        png = tmp_path / "k.png"
        Image.fromarray(_image(1)).save(png)
        with old.transaction() as c:  # a version-2 run (with error) and candidate (with pixel hash)
            c.execute(
                "INSERT INTO runs (uid, case_id, evidence_ids, prompt, parameters, status, started_at, "
                "finished_at, error) VALUES ('r2', ?, ?, 'a man', '{}', 'failed', 'then', 'later', 'boom')",
                (cid, f"[{eid}]"),
            )
            run = c.execute("SELECT * FROM runs WHERE uid = 'r2'").fetchone()
            audit.append(
                c,
                uid,
                "v2",
                "run.record",
                states.run_key("r2"),
                {"state": audit.state_hash(states.run_state(run, [sha]))},
            )
        assert old.verify().ok
    monkeypatch.undo()
    with CaseStore(settings) as new:
        assert (new.migrated_from, new.schema_version) == (2, SCHEMA_VERSION)
        assert {"kind"} <= {r[1] for r in new.conn.execute("PRAGMA table_info(evidence)")}
        assert new.conn.execute("SELECT kind FROM evidence").fetchone()[0] is None  # left as it was
        assert new.evidence.get(eid)["kind"] == "crop"
        assert [e["id"] for e in new.evidence.of_case(cid, kind="crop")] == [eid]
        run = new.runs.of_case(cid)[0]
        assert run["reference_id"] is None and run["error"] == "boom"
        rep = new.verify()
        assert rep.ok, rep.problems
        migrations = [e for e in audit.read_chain(new.conn, "") if e.action == "schema.migrate"]
        steps = [(e.details["from"], e.details["to"]) for e in migrations]
        assert steps[-2:] == [(2, 3), (3, 4)]
        assert new.evidence.get(eid)["excluded_at"] is None  # version 4: in use, as before
        ref = new.evidence.import_file(cid, make_image(tmp_path / "r.png", seed=3), kind="reference")
        rid = new.runs.record(cid, [eid], fake_result(n=1), reference_id=ref)
        assert new.runs.get(rid)["reference_id"] == ref
        assert new.verify().ok


def test_schema_3_refuses_an_unknown_kind_in_sql(store, case):
    cid, crop, _ = case
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE evidence SET kind = 'suspect' WHERE id = ?", (crop,))
