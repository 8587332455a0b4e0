"""TFGNetPipeline on a random tiny model: the generation contract, determinism, cancel, provenance."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from identity_fakes import HashIdentityEncoder

from tfgnet_desk.model.fusion import ClassWordError
from tfgnet_desk.model.testing import save_random_model
from tfgnet_desk.pipeline import (
    Cancelled,
    GenerationRequest,
    ProgressEvent,
    TFGNetPipeline,
    prepare_face,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("pipe") / "tiny", seed=0)


@pytest.fixture(scope="module")
def pipe(folder: Path) -> TFGNetPipeline:
    # no identity backend: these tests are about the generation contract
    return TFGNetPipeline.from_pretrained(folder, device="cpu", identity_encoder=None)


def _crop(seed: int = 0, size: int = 96) -> np.ndarray:
    """A smooth synthetic 'crop' (no real face; the pipeline falls back to the whole image)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((size // 6, size // 6, 1), dtype=np.uint8)))


def _request(**kw) -> GenerationRequest:
    base = dict(
        images=[_crop()],
        prompt="a man with short black hair",
        n_candidates=2,
        seed=11,
        steps=3,
        face_boxes=[(0, 0, 96, 96)],
    )
    base.update(kw)
    return GenerationRequest(**base)


def test_contract_shapes_progress_and_provenance(pipe: TFGNetPipeline):
    events: list[ProgressEvent] = []
    got = []
    res = pipe(_request(), progress=events.append, on_candidate=got.append)
    assert [c.index for c in res.candidates] == [0, 1] and [c.seed for c in res.candidates] == [11, 12]
    assert [c.index for c in got] == [0, 1]
    for c in res.candidates:
        assert c.image.shape == (128, 128, 3) and c.image.dtype == np.uint8
        assert c.scores == {}
    assert len(res.restored) == 1 and res.restored[0].shape == (128, 128, 3)
    assert res.mask.shape == (128, 128) and res.mask.dtype == np.float32
    assert 0 < res.mask.mean() < 1
    stages = [e.stage for e in events]
    assert stages.index("restore") < stages.index("embed") < stages.index("generate") < stages.index("score")
    gen = [e for e in events if e.stage == "generate"]
    assert gen[-1].step == gen[-1].total == 2 * round(3 * 0.6)
    prov = res.provenance
    assert prov["seeds"] == [11, 12]
    assert prov["request"]["strength"] == 0.6 and prov["request"]["steps"] == 3
    assert len(prov["model"]["manifest_hash"]) == 64
    assert prov["conditioning"]["class_word"] == "man" and prov["conditioning"]["stacked_tokens"] == 77
    assert {"torch", "diffusers", "transformers", "python"} <= set(prov["libraries"])
    assert prov["device"] == "cpu" and set(prov["timings_s"]) >= {"restore", "embed", "generate", "score"}
    assert len(prov["outputs"]) == 2 and prov["notes"]


def test_same_request_byte_identical_different_seed_differs(pipe: TFGNetPipeline):
    a = pipe(_request())
    b = pipe(_request())
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a.candidates, b.candidates, strict=True))
    assert a.provenance["outputs"] == b.provenance["outputs"]
    c = pipe(_request(seed=12))
    assert c.provenance["seeds"] == [12, 13]
    assert not np.array_equal(c.candidates[0].image, a.candidates[0].image)
    assert not np.array_equal(c.candidates[1].image, a.candidates[1].image)


def test_several_id_images_stack(pipe: TFGNetPipeline):
    res = pipe(_request(images=[_crop(0), _crop(1), _crop(2)], face_boxes=None, n_candidates=1, strength=1.0))
    assert res.provenance["conditioning"]["n_id_images"] == 3
    assert res.provenance["conditioning"]["stacked_tokens"] == 77 + 2
    assert len(res.restored) == 3 and len(res.provenance["faces"]) == 3


def test_cancel_stops_within_one_step(pipe: TFGNetPipeline):
    cancel = threading.Event()
    steps_after_cancel: list[int] = []

    def progress(ev: ProgressEvent) -> None:
        if ev.stage == "generate":
            if cancel.is_set():
                steps_after_cancel.append(ev.step)
            elif ev.step > 0:
                cancel.set()  # after the first diffusion step

    with pytest.raises(Cancelled):
        pipe(_request(steps=10, strength=1.0), progress=progress, cancel=cancel)
    assert steps_after_cancel == []


def test_cancel_keeps_the_candidates_already_finished(pipe: TFGNetPipeline):
    """Candidates are made one after another: a cancel during the second keeps the first, scored."""
    cancel, got = threading.Event(), []

    def progress(ev: ProgressEvent) -> None:
        if ev.stage == "score" and ev.step == 1:
            cancel.set()  # the first candidate is done; the second has not started

    with pytest.raises(Cancelled):
        pipe(_request(steps=5, strength=1.0), progress=progress, cancel=cancel, on_candidate=got.append)
    assert [c.index for c in got] == [0]
    assert got[0].image.shape == (128, 128, 3)


def test_generation_progress_counts_one_candidate_after_another(pipe: TFGNetPipeline):
    events: list[ProgressEvent] = []
    pipe(_request(steps=5, strength=1.0), progress=events.append)
    steps = [e.step for e in events if e.stage == "generate"]
    scored_at = [i for i, e in enumerate(events) if e.stage == "score" and e.step == 1][0]
    first_of_second = [i for i, e in enumerate(events) if e.stage == "generate" and e.step == 6][0]
    assert steps == list(range(1, 11))  # candidate-steps: 5 of candidate 0, then 5 of candidate 1
    assert scored_at < first_of_second  # candidate 0 is finished before candidate 1 starts


def test_request_errors_are_clear(pipe: TFGNetPipeline):
    with pytest.raises(ClassWordError, match="class word"):
        pipe(_request(prompt="someone with glasses"))
    with pytest.raises(ValueError, match="strength"):
        pipe(_request(strength=1.5))
    with pytest.raises(ValueError, match="RGB uint8"):
        pipe(_request(images=[np.zeros((10, 10), dtype=np.uint8)]))
    with pytest.raises(ValueError, match="at least one"):
        pipe(_request(images=[]))


def test_prepare_face_crop_frame_on_real_face(data_root: Path):
    from tfgnet_desk import faces
    from tfgnet_desk.imaging import load_image

    path = sorted((data_root / "celeba10k" / "images").glob("*.jpg"))[0]
    face = prepare_face(load_image(path), 128, "crop")
    assert face.lq.shape == (128, 128, 3) and face.method in ("hog", "cnn", "whole-crop")
    l68 = face.landmarks68
    eyes = (l68[36:42].mean(0) + l68[42:48].mean(0)) / 2
    assert abs(eyes[0] - 0.491 * 128) < 3 and abs(eyes[1] - 0.30 * 128) < 3  # data/crops.py's frame
    mask = faces.identity_mask(l68, (128, 128))
    assert mask[int(eyes[1]), int(eyes[0])] == 1 and mask[0, 0] == 0


def test_scores_with_dlib_on_real_faces(folder: Path, data_root: Path):
    from tfgnet_desk.imaging import load_image

    paths = sorted((data_root / "celeba10k" / "images").glob("*.jpg"))[:2]
    pipe = TFGNetPipeline.from_pretrained(folder, device="cpu")
    res = pipe(
        _request(
            images=[load_image(paths[0])],
            face_boxes=None,
            n_candidates=1,
            steps=2,
            reference=load_image(paths[1]),
        )
    )
    assert res.provenance["identity"]["backend"] == "dlib-resnet"
    scores = res.candidates[0].scores
    assert set(scores) <= {"evidence", "reference"} and "evidence" in scores
    for s in [*scores.values(), *res.restored_scores[0].values()]:
        assert s.backend == "dlib-resnet" and -1.0 <= s.raw <= 1.0


def test_pipeline_import_is_light():
    """The GUI imports the request/result types and Cancelled on its own thread: no torch at import."""
    import subprocess
    import sys

    code = (
        "import sys, tfgnet_desk.pipeline; "
        "print(','.join(m for m in ('torch', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_low_frequency_fusion_defaults_are_recorded_and_switchable(pipe: TFGNetPipeline):
    """The tiny profile fuses by default (sigmas recorded); explicit 0 turns it off, giving other pixels
    whose coarse colour follows the model instead of the evidence."""
    from tfgnet_desk.evidence_fusion import default_sigmas, lowfreq_fusion

    fused = pipe(_request())
    request = fused.provenance["request"]
    assert (request["restore_fusion"], request["candidate_fusion"]) == default_sigmas("tiny") == (2.0, 4.0)
    plain = pipe(_request(restore_fusion=0, candidate_fusion=0))
    assert plain.provenance["request"]["restore_fusion"] == 0.0
    assert not np.array_equal(plain.restored[0], fused.restored[0])
    # the fused restored face is exactly the plain one with the framed evidence's low frequencies
    framed = prepare_face(_crop(), pipe.model.config.restorer.img_size, "crop", (0, 0, 96, 96), None).lq
    np.testing.assert_array_equal(fused.restored[0], lowfreq_fusion(plain.restored[0], framed, 2.0))
    with pytest.raises(ValueError, match="restore_fusion"):
        pipe(_request(restore_fusion=-1))


def test_candidates_are_scored_against_the_evidence_not_the_restored_face(pipe: TFGNetPipeline):
    """With an encoder whose embeddings tell images apart: each candidate's score is its similarity to
    the evidence face (embedded once, from the analyst's box, not re-detected), never to the model's own
    restored face; the restored face gets its own score vs the evidence; the reference photo its own."""
    enc = HashIdentityEncoder()
    scoring = TFGNetPipeline(pipe.model, None, identity_encoder=enc)
    evidence, reference = _crop(0), _crop(5)
    res = scoring(_request(images=[evidence], reference=reference))
    restored = res.restored[0]
    for c in res.candidates:
        assert set(c.scores) == {"evidence", "reference"}  # no score against the restored face
        assert c.scores["evidence"].raw == pytest.approx(enc.expected(c.image, evidence))
        assert c.scores["evidence"].raw != pytest.approx(enc.expected(c.image, restored))
        assert c.scores["reference"].raw == pytest.approx(enc.expected(c.image, reference))
        assert c.scores["evidence"].backend == "fake-hash"
    assert res.restored_scores[0]["evidence"].raw == pytest.approx(enc.expected(restored, evidence))
    # the evidence face: embedded once per run, in the analyst's box (landmarks fitted inside it)
    assert enc.embedded(evidence) == [("detection", enc.embedded(evidence)[0][1], (0, 0, 96, 96), "manual")]
    prov = res.provenance
    assert prov["identity"]["backend"] == "fake-hash" and prov["identity"]["evidence_image"] == 0
    assert [set(s) for s in prov["scores"]] == [{"evidence", "reference"}] * 2
    assert prov["scores"][0]["evidence"]["raw"] == pytest.approx(res.candidates[0].scores["evidence"].raw)
    assert prov["restored_scores"][0]["evidence"]["backend"] == "fake-hash"
    assert not any("no face" in n for n in prov["notes"])


def test_evidence_without_a_face_gets_no_scores_and_says_so(pipe: TFGNetPipeline):
    """A flat brown patch has no readable face: no candidate is scored (a score against the restored
    face would have passed every candidate), and the notes say why."""
    enc = HashIdentityEncoder()
    scoring = TFGNetPipeline(pipe.model, None, identity_encoder=enc)
    brown = np.zeros((96, 96, 3), dtype=np.uint8) + np.array([120, 80, 40], dtype=np.uint8)
    res = scoring(_request(images=[brown], face_boxes=None, n_candidates=1))
    assert res.provenance["faces"][0]["method"] == "whole-image"
    assert res.candidates[0].scores == {} and res.restored_scores == [{}]
    assert "no face found in the evidence: no 'evidence' scores" in res.provenance["notes"]
    assert enc.embedded(brown) == []


def test_one_image_hash_for_provenance_and_the_case_store(pipe: TFGNetPipeline, tmp_path: Path):
    """Issue 16: the provenance hashed dtype and shape headers, the store shape only, so a candidate's
    provenance hash never equalled its case row's. One definition now, recorded as ``image_hash``."""
    from tfgnet_desk.cases import CaseStore
    from tfgnet_desk.cases.evidence import pixel_sha256 as store_hash
    from tfgnet_desk.hashing import IMAGE_HASH
    from tfgnet_desk.settings import Settings

    res = pipe(_request())
    assert res.provenance["image_hash"] == IMAGE_HASH
    crop = tmp_path / "crop.png"
    from PIL import Image

    Image.fromarray(_crop()).save(crop)
    with CaseStore(Settings(home=tmp_path / "home", models_dir=tmp_path / "m")) as store:
        cid = store.create_case("hashes")
        eid = store.evidence.import_file(cid, crop)
        rid = store.runs.record(cid, [eid], res)
        rows = {c["idx"]: c for c in store.candidates.of_run(rid)}
        for out in res.provenance["outputs"]:
            assert out["sha256"] == rows[out["index"]]["pixel_sha256"]
        assert res.provenance["request"]["evidence_sha256"][0] == store_hash(store.evidence.load_image(eid))


def test_to_record_is_what_a_run_records_and_what_verify_run_reads_back(tmp_path: Path):
    """Issue 16: one definition of a request's recorded parameters (window, generate --case), and
    ``case verify-run`` rebuilds the same request from it."""
    from tfgnet_desk.gui.worker import GenerationJob
    from tfgnet_desk.pipeline import RECORD_VERSION
    from tfgnet_desk.settings import Settings

    req = _request(fidelity=0.4, restore_fusion=2.0, candidate_fusion=4.0, sampler="ddim")
    rec = req.to_record()
    assert rec["record_version"] == RECORD_VERSION and rec["fidelity"] == 0.4 and rec["reference"] is False
    job = GenerationJob(token=1, settings=Settings(home=tmp_path), request=req)
    assert job.parameters() == rec  # the window records through the same method
    # identity guidance left unset is resolved by the pipeline and read back from the provenance
    again = GenerationRequest.from_record(
        rec, images=req.images, prompt=req.prompt, resolved={"identity_guidance": 0.05}
    )
    assert again.to_record() == {**rec, "identity_guidance": 0.05}
