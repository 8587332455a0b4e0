"""Issue 14, item 11: a finished run keeps its restored face (the model's output) so that the window can
show it again for that run and after a relaunch: stored like a candidate, named in the run's audited
provenance, checked by ``verify``, carried by bundles."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.evidence import read_png_text
from tfgnet_desk.cases.recorder import RunRecorder
from tfgnet_desk.cases.restored import KEY, load_restored_face, restored_entries


def _face(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48, 3), dtype=np.uint8)


@pytest.fixture()
def recorded(settings, tmp_path):
    from tfgnet_desk.gui.testing import write_synthetic_face

    store = CaseStore(settings, actor="alice")
    cid = store.create_case("Restored")
    eid = store.evidence.import_file(cid, write_synthetic_face(tmp_path / "crop.png", 64))
    rec = RunRecorder(store, cid, [eid], prompt="a man", parameters={"n_candidates": 1}, model_hash="m" * 8)
    rec.start()
    rec.add(0, 7, _face(1), {})
    face = _face(2)
    rec.finish("done", {"restored_scores": [{}]}, restored=[face])
    yield store, cid, rec.run_id, face
    store.close()


def test_a_finished_run_keeps_its_restored_face(recorded):
    store, cid, run_id, face = recorded
    run = store.runs.get(run_id)
    (entry,) = restored_entries(run)
    assert run["provenance"]["restored_scores"] == [{}]  # the pipeline's provenance is kept as it was
    assert entry["file"].startswith("candidates/") and len(entry["sha256"]) == 64
    assert np.array_equal(load_restored_face(store.home, run), face)
    text = read_png_text(store.home / entry["file"])
    assert text["tfgnet:restored_face"] == "0" and text["tfgnet:run"] == run["uid"]
    assert "not evidence" in text["Description"].lower()
    rep = store.verify(cid)
    assert rep.ok, rep.problems
    assert not any("belong to no record" in n for n in store.verify().notes)
    # the provenance (and so the file's hash) is part of the audited run state
    import json

    prov = dict(run["provenance"], **{KEY: [dict(entry, sha256="0" * 64)]})
    with store.transaction() as c:
        c.execute("UPDATE runs SET provenance = ? WHERE id = ?", (json.dumps(prov), run_id))
    assert any("edited after its last recorded change" in p for p in store.verify(cid).problems)


def test_a_run_without_a_result_keeps_no_restored_face(settings):
    store = CaseStore(settings)
    cid = store.create_case("Cancelled")
    rec = RunRecorder(store, cid, [], prompt="a man", parameters={})
    rec.start()
    rec.finish("cancelled", error="cancelled by the analyst")
    assert restored_entries(store.runs.get(rec.run_id)) == []
    assert load_restored_face(store.home, store.runs.get(rec.run_id)) is None
    store.close()


def test_a_changed_or_missing_file_is_not_shown_and_verify_says_so(recorded):
    store, cid, run_id, _face_ = recorded
    path = store.home / restored_entries(store.runs.get(run_id))[0]["file"]
    os.chmod(path, 0o600)
    path.write_bytes(path.read_bytes() + b"x")
    assert load_restored_face(store.home, store.runs.get(run_id)) is None
    assert any("restored face" in p and "changed" in p for p in store.verify(cid).problems)
    path.unlink()
    assert load_restored_face(store.home, store.runs.get(run_id)) is None
    assert any("restored face" in p and "missing" in p for p in store.verify(cid).problems)


def test_bundles_carry_the_restored_face(recorded, settings, tmp_path):
    store, cid, run_id, face = recorded
    bundle = store.export_case(cid, tmp_path / "case.zip")
    with CaseStore(settings.with_(home=tmp_path / "other"), actor="bob") as dest:
        new_id = dest.import_case(bundle)
        assert dest.verify().ok
        (run,) = dest.runs.of_case(new_id)
        assert np.array_equal(load_restored_face(dest.home, run), face)
