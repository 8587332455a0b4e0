"""``verify-run``: a recorded run is repeated from its recorded inputs and compared hash for hash."""

from __future__ import annotations

import numpy as np
import pytest
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.reproduce import RunSpec, verify_run


@pytest.fixture()
def recorded(settings, tmp_path):
    store = CaseStore(settings)
    cid = store.create_case("repro")
    eid = store.evidence.import_file(cid, make_image(tmp_path / "e.png"), face_box=(1, 2, 30, 40))
    rid = store.runs.record(cid, [eid], fake_result(n=3, seed=42))
    yield store, cid, eid, rid
    store.close()


def same_as_recorded(spec: RunSpec):
    """A stand-in pipeline that is deterministic in the recorded seed, as the real one is on CPU."""
    return fake_result(n=spec.parameters["n_candidates"], seed=spec.parameters["seed"])


def test_reproduced_run_matches(recorded):
    store, cid, eid, rid = recorded
    seen: list[RunSpec] = []

    def regen(spec: RunSpec):
        seen.append(spec)
        return same_as_recorded(spec)

    check = verify_run(store, rid, regenerate=regen)
    assert check.ok, check.lines()
    assert [c.match for c in check.candidates] == [True, True, True]
    spec = seen[0]
    assert spec.prompt == store.runs.get(rid)["prompt"] and spec.device == "cpu"
    assert np.array_equal(spec.images[0], store.evidence.load_image(eid))
    last = store.audit_trail(cid)[-1]
    assert last.action == "run.verify" and last.details["ok"] is True and last.details["reproduced"] == 3
    assert store.verify().ok


def test_a_changed_output_is_reported(recorded):
    store, cid, _, rid = recorded

    def drifting(spec: RunSpec):
        out = same_as_recorded(spec)
        out.candidates[1].image = out.candidates[1].image.copy()
        out.candidates[1].image[0, 0, 0] ^= 1  # one bit of one pixel
        return [(c.index, c.image) for c in out.candidates[:2]]  # and candidate 2 missing

    check = verify_run(store, rid, regenerate=drifting)
    assert not check.ok
    assert [c.match for c in check.candidates] == [True, False, False]
    assert check.candidates[2].regenerated is None
    text = "\n".join(check.lines())
    assert "1 of 3" in text and "DIFFERENT" in text and "missing" in text
    assert store.audit_trail(cid)[-1].details["ok"] is False


def test_a_different_model_is_refused_before_running(recorded, tmp_path):
    from tfgnet_desk.model_folders.manifest import write_manifest

    store, _, _, rid = recorded
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text("{}")
    write_manifest(folder, licence="test", source="test")
    called = []
    check = verify_run(store, rid, regenerate=lambda s: called.append(s), model_folder=folder)
    assert not check.ok and "not the recorded model" in check.message and called == []


@pytest.mark.slow
def test_verify_run_repeats_a_real_pipeline_run_bit_for_bit(tmp_path, capsys):
    """The real pipeline on a random tiny model: record a run, then ``tfgnet-desk case verify-run`` it."""
    import torch

    from tfgnet_desk.cli import main
    from tfgnet_desk.model.testing import save_random_model
    from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline
    from tfgnet_desk.settings import Settings

    torch.set_num_threads(2)
    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models")
    save_random_model(settings.models_dir / "tiny")
    with CaseStore(settings) as store:
        cid = store.create_case("real pipeline")
        eid = store.evidence.import_file(cid, make_image(tmp_path / "e.png", size=(96, 96)))
        # no identity scoring (the dlib models are slow to load, and scores are not what is compared)
        loaded = TFGNetPipeline.from_pretrained(settings.model_path(), settings)
        pipe = TFGNetPipeline(loaded.model, settings, identity_encoder=None)
        request = GenerationRequest(
            images=[store.evidence.load_image(eid)],
            prompt="a man with a beard",
            n_candidates=1,
            seed=5,
            steps=1,
        )
        rid = store.runs.record(cid, [eid], pipe(request))
        run = store.runs.get(rid)
        assert run["model_hash"] and run["parameters"]["seed"] == 5 and run["profile"] == "tiny"
        assert "torch" in run["library_versions"]
    home, models = str(settings.home), str(settings.models_dir)
    rc = main(["case", "--home", home, "--models", models, "verify-run", str(rid)])  # the profile's folder
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "1 of 1 candidates reproduced bit for bit on cpu" in out
    # the real run's provenance reaches the report
    pdf = tmp_path / "real.pdf"
    assert main(["case", "--home", str(settings.home), "report", str(cid), "--out", str(pdf)]) == 0
    import pypdfium2 as pdfium  # a dev dependency: missing, the test fails rather than skips

    doc = pdfium.PdfDocument(str(pdf))
    text = " ".join(" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc)))
    doc.close()
    assert run["model_hash"] in text and "run.verify" in text and "ddim" in text


def test_a_run_with_a_reference_photo_is_repeated_with_it(recorded, tmp_path):
    store, cid, eid, plain = recorded
    ref = store.evidence.import_file(cid, make_image(tmp_path / "known.png", seed=5), kind="reference")
    result = fake_result(n=2, seed=7)
    for c in result.candidates:
        c.scores["reference"] = {"raw": 0.4 + c.index / 10, "calibrated": 0.6, "backend": "dlib-resnet"}
    rid = store.runs.record(cid, [eid], result, reference_id=ref)
    seen: list[RunSpec] = []

    def regen(spec: RunSpec):
        seen.append(spec)
        out = fake_result(n=2, seed=7)
        if spec.reference is not None:  # a pipeline that scores against the reference it was given
            for c in out.candidates:
                c.scores["reference"] = {"raw": 0.4 + c.index / 10 + (0.05 if c.index else 0.0)}
        return out

    check = verify_run(store, rid, regenerate=regen)
    assert np.array_equal(seen[0].reference, store.evidence.load_image(ref))
    assert check.ok  # pixels decide; the scores are reported beside them
    assert [c.reference_recorded for c in check.candidates] == pytest.approx([0.4, 0.5])
    assert [c.reference_regenerated for c in check.candidates] == pytest.approx([0.4, 0.55])
    assert [c.reference_match for c in check.candidates] == [True, False]
    text = "\n".join(check.lines())
    assert "score vs reference photo recorded 0.4000 now 0.4000 same" in text and "DIFFERENT" in text
    assert store.audit_trail(cid)[-1].details["reference_scores_same"] == 1
    verify_run(store, plain, regenerate=regen)
    assert seen[1].reference is None  # a run without a reference photo is repeated without one
    assert "reference_scores_same" not in store.audit_trail(cid)[-1].details


def test_a_run_recorded_before_evidence_scores_still_verifies(recorded):
    """Old records hold 'restored' scores (against the model's own restored face): the run still
    verifies bit for bit, and those scores are shown as what they are, never recomputed or passed off
    as scores vs evidence."""
    store, cid, _, rid = recorded
    assert all(set(c["scores"]) == {"restored"} for c in store.candidates.of_run(rid))  # an old record
    seen: list[RunSpec] = []
    check = verify_run(store, rid, regenerate=lambda spec: seen.append(spec) or same_as_recorded(spec))
    assert check.ok and seen[0].recorded_scores == ("restored",)
    text = "\n".join(check.lines())
    assert "score vs restored face (old runs) recorded 0.3000 (not recomputed)" in text
    assert "vs evidence" not in text and "DIFFERENT" not in text
    assert [c.restored_recorded for c in check.candidates] == pytest.approx([0.3, 0.4, 0.5])
    details = store.audit_trail(cid)[-1].details
    assert details["ok"] is True and "evidence_scores_same" not in details


def test_a_runs_scores_vs_evidence_are_computed_again_and_compared(recorded):
    store, cid, eid, _ = recorded
    result = fake_result(n=2, seed=9)
    for c in result.candidates:
        c.scores = {"evidence": {"raw": 0.2 + c.index / 10, "calibrated": 0.4, "backend": "dlib-resnet"}}
    rid = store.runs.record(cid, [eid], result)

    def regen(spec: RunSpec):
        out = fake_result(n=2, seed=9)
        for c in out.candidates:  # candidate 1 scores differently now
            c.scores = {"evidence": {"raw": 0.2 + c.index / 10 + (0.07 if c.index else 0.0)}}
        return out

    check = verify_run(store, rid, regenerate=regen)
    assert check.ok  # pixels decide
    assert [c.evidence_match for c in check.candidates] == [True, False]
    text = "\n".join(check.lines())
    assert "score vs evidence recorded 0.2000 now 0.2000 same" in text
    assert "score vs evidence recorded 0.3000 now 0.3700 DIFFERENT" in text and "restored" not in text
    assert store.audit_trail(cid)[-1].details["evidence_scores_same"] == 1


def test_a_record_rebuilds_the_request_with_the_fusion_the_run_used():
    """verify-run repeats a run with the fusion sigmas it recorded; a run recorded before fusion existed
    (no sigmas anywhere) is repeated with fusion off, as it was made."""
    from tfgnet_desk.request import GenerationRequest

    def rebuilt(record, resolved=None):
        return GenerationRequest.from_record(record, images=[], prompt="a man", resolved=resolved)

    old = rebuilt({"seed": 3, "face_boxes": [[0, 0, 9, 9]], "reference": True, "record_version": 1})
    assert (old.seed, old.face_boxes, old.reference) == (3, [(0, 0, 9, 9)], None)
    assert (old.restore_fusion, old.candidate_fusion, old.fidelity, old.identity_guidance) == (0, 0, 0, 0)
    gui = rebuilt({"restore_fusion": 2.0, "candidate_fusion": 4.0, "face_boxes": []})
    assert (gui.restore_fusion, gui.candidate_fusion) == (2.0, 4.0) and gui.face_boxes is None
    cli = rebuilt({"n_candidates": 2}, {"restore_fusion": 1.5, "candidate_fusion": 0.0})
    assert (cli.n_candidates, cli.restore_fusion, cli.candidate_fusion) == (2, 1.5, 0.0)
