"""``tfgnet-desk case ...``: every sub-command through the real entry point, in-process."""

from __future__ import annotations

import sqlite3

import pytest
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cli import main
from tfgnet_desk.settings import Settings


@pytest.fixture()
def home(tmp_path):
    return tmp_path / "home"


def run(capsys, home, *args: str) -> tuple[int, str, str]:
    rc = main(["case", "--home", str(home), "--actor", "cli-tester", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_case_commands_end_to_end(capsys, home, tmp_path):
    rc, out, _ = run(capsys, home, "new", "Bike theft", "--reference", "BT-1", "--analyst", "K. Lee")
    assert rc == 0 and "Bike theft [BT-1]" in out
    run(capsys, home, "new", "Other case")
    rc, out, _ = run(capsys, home, "list")
    assert rc == 0 and out.count("\n") == 2
    rc, out, _ = run(capsys, home, "list", "--search", "bike")
    assert out.count("\n") == 1 and "Bike theft" in out

    img = make_image(tmp_path / "frame.png")
    rc, out, _ = run(capsys, home, "import-evidence", "BT-1", str(img), "--box", "2,2,20,30")
    assert rc == 0 and "sha256" in out
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    rc, _, err = run(capsys, home, "import-evidence", "BT-1", str(bad))
    assert rc == 2 and "bad.jpg" in err

    # several files with a bad one in the middle: each is tried and reported, the exit status says so
    good2 = make_image(tmp_path / "frame2.png", seed=7)
    rc, out, err = run(capsys, home, "import-evidence", "BT-1", str(bad), str(good2))
    assert rc == 2 and "bad.jpg" in err and "1 of 2 files not imported" in err
    assert "sha256" in out  # the file after the bad one was imported

    with CaseStore(Settings(home=home)) as store:  # a run, as the GUI would record it
        cid = store.find_case("BT-1")
        rid = store.runs.record(cid, [store.evidence.of_case(cid)[0]["id"]], fake_result(n=2))
        k = store.candidates.of_run(rid)[0]["id"]
    assert run(capsys, home, "pick", str(k))[0] == 0
    assert run(capsys, home, "note", str(k), "ask witness 2")[0] == 0
    rc, out, _ = run(capsys, home, "show", "BT-1", "--audit")
    assert rc == 0
    for needle in (
        "K. Lee",
        "frame.png",
        "[2, 2, 20, 30]",
        "a man in his forties",
        "PICKED",
        "ask witness 2",
        "dlib-resnet",
        "candidate.note",
        "cli-tester",
        "audit head",
    ):
        assert needle in out, needle
    assert run(capsys, home, "rename", "BT-1", "Bicycle theft")[1].count("Bicycle theft") == 1
    assert "closed" in run(capsys, home, "close", "BT-1")[1]
    assert "open" in run(capsys, home, "reopen", "BT-1")[1]

    rc, out, _ = run(capsys, home, "verify")
    assert rc == 0 and out.startswith("OK")
    rc, out, _ = run(capsys, home, "verify", "BT-1")
    assert rc == 0 and "audit head" in out

    bundle = tmp_path / "bt1.zip"
    assert run(capsys, home, "export", "BT-1", "--out", str(bundle))[0] == 0
    other = tmp_path / "other"
    rc, out, _ = run(capsys, other, "import", str(bundle))
    assert rc == 0 and "Bicycle theft" in out
    assert run(capsys, other, "verify")[0] == 0
    rc, _, err = run(capsys, other, "import", str(bundle))
    assert rc == 2 and "already in this store" in err

    conn = sqlite3.connect(home / "cases.db")
    conn.execute("UPDATE candidates SET note = 'changed behind the app'")
    conn.commit()
    conn.close()
    rc, out, _ = run(capsys, home, "verify")
    assert rc == 1 and "PROBLEM" in out and "was edited" in out


def test_unknown_case_and_missing_model_are_errors(capsys, home, tmp_path):
    rc, _, err = run(capsys, home, "show", "nope")
    assert rc == 2 and "no case matches" in err
    with CaseStore(Settings(home=home, models_dir=tmp_path / "no-models")) as store:
        cid = store.create_case("c")
        eid = store.evidence.import_file(cid, make_image(tmp_path / "e.png"))
        rid = store.runs.record(cid, [eid], fake_result(n=1))
    rc, out, _ = run(capsys, home, "verify-run", str(rid), "--model", str(tmp_path / "no-such-model"))
    assert rc == 1 and "cannot be checked" in out


def test_show_lists_evidence_kind_run_status_and_reference(capsys, home, tmp_path):
    run(capsys, home, "new", "With a reference", "--reference", "WR-1")
    crop = make_image(tmp_path / "cctv.png", seed=1)
    ref = make_image(tmp_path / "passport.png", seed=2)
    assert run(capsys, home, "import-evidence", "WR-1", str(crop))[0] == 0
    rc, out, _ = run(capsys, home, "import-evidence", "WR-1", str(ref), "--kind", "reference")
    assert rc == 0 and "(reference)" in out
    with CaseStore(Settings(home=home)) as store:
        cid = store.find_case("WR-1")
        e_crop = store.evidence.of_case(cid, kind="crop")[0]["id"]
        e_ref = store.evidence.of_case(cid, kind="reference")[0]["id"]
        store.runs.record(cid, [e_crop], fake_result(n=2), reference_id=e_ref)
        rid = store.runs.start(cid, [e_crop], prompt="a tall man", parameters={"n_candidates": 4})
        store.runs.add_candidate(rid, 0, 1, fake_result(n=1).candidates[0].image)
        store.runs.add_candidate(rid, 1, 2, fake_result(n=1).candidates[0].image[::-1].copy())
        store.runs.finish(rid, "cancelled", error="cancelled by the analyst")
    rc, out, _ = run(capsys, home, "show", "WR-1")
    assert rc == 0
    assert (
        f"evidence {e_crop} (crop): cctv.png" in out and f"evidence {e_ref} (reference): passport.png" in out
    )
    assert f"reference photo evidence {e_ref} (passport.png)" in out
    assert "cancelled: 2 of 4 candidates" in out and "error: cancelled by the analyst" in out
    assert "reference photo none" in out and " done " in out


def test_show_labels_scores_vs_evidence_and_old_runs_scores_as_old(capsys, home, tmp_path):
    run(capsys, home, "new", "Scores", "--reference", "SC-1")
    assert run(capsys, home, "import-evidence", "SC-1", str(make_image(tmp_path / "cctv.png")))[0] == 0
    with CaseStore(Settings(home=home)) as store:
        cid = store.find_case("SC-1")
        eid = store.evidence.of_case(cid)[0]["id"]
        store.runs.record(cid, [eid], fake_result(n=1))  # recorded before: a 'restored' score
        new = fake_result(n=1, seed=3)
        new.candidates[0].scores = {
            "reference": {"raw": 0.8, "calibrated": 0.05, "backend": "dlib-resnet"},
            "evidence": {"raw": 0.9, "calibrated": 0.42, "backend": "dlib-resnet"},
        }
        new.provenance["restored_scores"] = [
            {"evidence": {"raw": 0.91, "calibrated": 0.52, "backend": "dlib-resnet"}}
        ]
        store.runs.record(cid, [eid], new)
    rc, out, _ = run(capsys, home, "show", "SC-1")
    assert rc == 0
    assert "vs restored face (old runs) 0.500 (dlib-resnet)" in out
    assert "vs evidence 0.420 (dlib-resnet), vs reference photo 0.050 (dlib-resnet)" in out
    assert "restored face (model output): vs evidence 0.520 (dlib-resnet)" in out
    assert "restored:" not in out and "input" not in out
