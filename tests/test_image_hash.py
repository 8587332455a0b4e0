"""Issue 16: one image hash (``hashing.pixel_sha256``). A candidate of a real run (random-weight tiny model)
has the same hash string in its run's provenance, its store row, its PNG's text chunk, the PDF report and
the bundle manifest; ``verify-run`` reproduces it; and a run recorded before the pipeline adopted that
hash (its provenance hashed with a dtype + shape header) still verifies, read with the legacy definition.
"""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import torch
from PIL import Image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.evidence import PIXEL_CHUNK, read_png_text
from tfgnet_desk.cases.recorder import RunRecorder
from tfgnet_desk.cases.reproduce import RunSpec, recorded_request, verify_run
from tfgnet_desk.hashing import (
    IMAGE_HASH,
    LEGACY_IMAGE_HASH,
    legacy_provenance_sha256,
    pixel_sha256,
    provenance_image_hash,
    sha256_file,
)
from tfgnet_desk.model.testing import save_random_model
from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline
from tfgnet_desk.settings import Settings

PROMPT = "a man with short black hair"


# -- the definition ---------------------------------------------------------------------------------------
def test_the_definition_is_shape_then_uint8_pixels_in_c_order():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert pixel_sha256(img) == hashlib.sha256(b"(2, 3, 3)" + img.tobytes()).hexdigest()
    assert pixel_sha256(np.asfortranarray(img)) == pixel_sha256(img)  # C order whatever the layout
    assert pixel_sha256(img.astype(np.int64)) == pixel_sha256(img)  # the same uint8 values
    # the example: the two definitions disagreed on a 2x2x3 zero image
    zero = np.zeros((2, 2, 3), np.uint8)
    assert pixel_sha256(zero).startswith("93d2") and legacy_provenance_sha256(zero).startswith("c547")
    for bad in (np.full((2, 2, 3), 0.5), np.full((2, 2, 3), 256, np.int32), np.full((2, 2, 3), -1)):
        with pytest.raises(ValueError, match="uint8"):  # never wrapped or truncated silently
            pixel_sha256(bad)


def test_a_records_own_definition_decides():
    assert provenance_image_hash({"image_hash": IMAGE_HASH}) is pixel_sha256
    assert provenance_image_hash({"outputs": []}) is legacy_provenance_sha256  # recorded before it was named
    assert provenance_image_hash(None) is legacy_provenance_sha256
    with pytest.raises(ValueError, match="does not know"):
        provenance_image_hash({"image_hash": "sha3 of something"})


# -- a real run -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> TFGNetPipeline:
    torch.set_num_threads(1)
    folder = save_random_model(tmp_path_factory.mktemp("hash") / "tiny", seed=0)
    return TFGNetPipeline.from_pretrained(folder, device="cpu", identity_encoder=None)


def _crop() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.kron(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8))


def _request(images: list[np.ndarray]) -> GenerationRequest:
    return GenerationRequest(images=images, prompt=PROMPT, n_candidates=2, seed=3, steps=2)


def _regenerate_with(pipe: TFGNetPipeline):
    """verify-run's regenerating function on the already loaded pipeline: the request rebuilt from the
    record exactly as ``pipeline_regenerate`` rebuilds it (only the model is not loaded again)."""

    def regenerate(spec: RunSpec):
        request = GenerationRequest.from_record(
            spec.parameters, images=spec.images, prompt=spec.prompt, resolved=recorded_request(spec)
        )
        return pipe(request)

    return regenerate


def _report_text(store: CaseStore, case_id: int, folder: Path) -> str:
    """The text of the case's PDF report, whitespace runs made single spaces."""
    from tfgnet_desk.report import write_case_report

    doc = pdfium.PdfDocument(str(write_case_report(store, case_id, folder / "report.pdf")))
    text = " ".join(" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc)))
    doc.close()
    return text


def _record(store: CaseStore, case_id: int, evidence_id: int, req: GenerationRequest, result) -> int:
    """The run recorded as the window and ``generate --case`` record one (``RunRecorder``)."""
    model = result.provenance["model"]
    rec = RunRecorder(
        store,
        case_id,
        [evidence_id],
        prompt=req.prompt,
        parameters=req.to_record(),
        profile=model["profile"],
        device=result.provenance["device"],
        model_hash=model["manifest_hash"],
    )
    rec.start()
    for c in result.candidates:
        rec.add_candidate(c)
    rec.finish("done", provenance=result.provenance, restored=result.restored)
    return int(rec.run_id)


@pytest.fixture()
def case(tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(_crop()).save(crop)
    store = CaseStore(Settings(home=tmp_path / "home", models_dir=tmp_path / "models"))
    cid = store.create_case("one image hash")
    eid = store.evidence.import_file(cid, crop)
    yield store, cid, eid
    store.close()


def test_every_hash_of_a_candidate_is_the_same_string(pipe, case, tmp_path):
    store, cid, eid = case
    req = _request([store.evidence.load_image(eid)])
    result = pipe(req)
    rid = _record(store, cid, eid, req, result)
    run = store.runs.get(rid)
    assert run["provenance"]["image_hash"] == IMAGE_HASH
    assert run["provenance"]["request"]["evidence_sha256"] == [pixel_sha256(store.evidence.load_image(eid))]

    report = _report_text(store, cid, tmp_path)
    assert IMAGE_HASH in report

    bundle = store.export_case(cid, tmp_path / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        zipped = {name: zf.read(name) for name in zf.namelist()}
    (brun,) = manifest["runs"]
    bundle_rows = {c["idx"]: c for c in brun["candidates"]}
    bundle_outputs = {o["index"]: o["sha256"] for o in brun["provenance"]["outputs"]}

    rows = store.candidates.of_run(rid)
    assert [r["idx"] for r in rows] == [0, 1]
    for row, cand, out in zip(rows, result.candidates, result.provenance["outputs"], strict=True):
        path = store.home / row["file"]
        with Image.open(path) as im:
            decoded = np.asarray(im.convert("RGB"))
        png = read_png_text(path)
        # the image hash: one string everywhere
        hashes = {
            "pipeline (candidate in memory)": pixel_sha256(cand.image),
            "provenance outputs": out["sha256"],
            "store row": row["pixel_sha256"],
            "PNG chunk": png[PIXEL_CHUNK],
            "stored PNG decoded": pixel_sha256(decoded),
            "bundle row": bundle_rows[row["idx"]]["pixel_sha256"],
            "bundle provenance": bundle_outputs[row["idx"]],
        }
        assert len(set(hashes.values())) == 1, hashes
        assert hashes["store row"] in report
        assert np.array_equal(decoded, cand.image)
        # the file hash (a different thing: it covers the PNG's metadata): one string too
        files = {
            "store row": row["sha256"],
            "file name": Path(row["file"]).stem,
            "file bytes": sha256_file(path),
            "bundle files": manifest["files"][row["file"]]["sha256"],
            "bundle bytes": hashlib.sha256(zipped[row["file"]]).hexdigest(),
        }
        assert len(set(files.values())) == 1, files
        assert files["store row"] in report

    check = verify_run(store, rid, regenerate=_regenerate_with(pipe))
    assert check.ok, check.lines()
    for c, row in zip(check.candidates, rows, strict=True):
        assert c.recorded == c.regenerated == c.provenance_recorded == row["pixel_sha256"]
        assert not c.legacy_hash
    assert "provenance hash same" in "\n".join(check.lines())


def _as_recorded_before(result, images: list[np.ndarray]):
    """The result as the pipeline made it before issue 16: provenance hashes with a dtype + shape header
    (``pipeline.sha256_array`` then) and no ``image_hash`` naming the definition."""
    old = copy.copy(result)
    prov = copy.deepcopy(result.provenance)
    del prov["image_hash"]
    prov["outputs"] = [
        {"index": c.index, "seed": c.seed, "sha256": legacy_provenance_sha256(c.image)}
        for c in result.candidates
    ]
    req = prov["request"]
    req["evidence_sha256"] = [legacy_provenance_sha256(x) for x in images]
    old.provenance = prov
    return old


def test_a_run_recorded_before_the_one_hash_still_verifies(pipe, case, tmp_path):
    store, cid, eid = case
    req = _request([store.evidence.load_image(eid)])
    old = _as_recorded_before(pipe(req), req.images)
    rid = store.runs.record(cid, [eid], old, prompt=PROMPT, parameters=req.to_record())
    run = store.runs.get(rid)
    assert "image_hash" not in run["provenance"]
    rows = store.candidates.of_run(rid)
    legacy = [o["sha256"] for o in run["provenance"]["outputs"]]
    assert all(h != r["pixel_sha256"] for h, r in zip(legacy, rows, strict=True))  # the old mismatch

    check = verify_run(store, rid, regenerate=_regenerate_with(pipe))
    assert check.ok, check.lines()
    assert [c.provenance_recorded for c in check.candidates] == legacy
    assert [c.provenance_regenerated for c in check.candidates] == legacy  # read the old way
    assert all(c.legacy_hash and c.recorded == c.regenerated for c in check.candidates)
    assert f"provenance hash ({LEGACY_IMAGE_HASH}) same" in "\n".join(check.lines())
    assert LEGACY_IMAGE_HASH in _report_text(store, cid, tmp_path)  # the appendix names the old definition

    # the old provenance hash is checked, not skipped: an altered one fails the verdict
    def drifting(spec: RunSpec):
        out = _regenerate_with(pipe)(spec)
        out.candidates[1].image = out.candidates[1].image.copy()
        out.candidates[1].image[0, 0, 0] ^= 1
        return out

    bad = verify_run(store, rid, regenerate=drifting)
    assert not bad.ok and [c.match for c in bad.candidates] == [True, False]
    assert "DIFFERENT" in bad.lines()[2]


def test_an_old_run_without_row_pixel_hashes_verifies_by_its_provenance(pipe, case):
    """Rows of the first schema held no pixel hash: the run's legacy provenance hashes decide instead."""
    store, cid, eid = case
    req = _request([store.evidence.load_image(eid)])
    rid = store.runs.record(
        cid, [eid], _as_recorded_before(pipe(req), req.images), prompt=PROMPT, parameters=req.to_record()
    )
    with store.transaction() as c:
        c.execute("UPDATE candidates SET pixel_sha256 = NULL WHERE run_id = ?", (rid,))
    check = verify_run(store, rid, regenerate=_regenerate_with(pipe))
    assert check.ok, check.lines()
    assert all(c.recorded is None and c.provenance_recorded for c in check.candidates)
    assert "recorded none" in check.lines()[1]
