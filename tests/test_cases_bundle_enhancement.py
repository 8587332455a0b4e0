"""A case bundle carries the images of the case's enhancements of the evidence (the compare view's
Real-ESRGAN tile), checked against the audit entries that record them."""

from __future__ import annotations

import json
import zipfile

import pytest
from upscale_fakes import FAKE_PROVENANCE, x4

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.bundle import BundleError, export_case, import_case
from tfgnet_desk.cases.enhancements import list_enhancements, load_enhancement_image, record_enhancement
from tfgnet_desk.gui.testing import synthetic_face, write_synthetic_face
from tfgnet_desk.hashing import pixel_sha256


@pytest.fixture()
def enhanced(settings, tmp_path):
    store = CaseStore(settings, actor="analyst-7")
    cid = store.create_case("Upscaled at the door")
    eid = store.evidence.import_file(cid, write_synthetic_face(tmp_path / "door.png", 24, seed=2))
    face = store.evidence.load_image(eid)
    record_enhancement(
        store,
        cid,
        evidence_sha256=store.evidence.get(eid)["sha256"],
        face_box=None,
        input_image=face,
        input_note="Input: the evidence's face.",
        output_image=x4(face),
        provenance=FAKE_PROVENANCE,
    )
    yield store, cid, x4(face)
    store.close()


def test_the_enhancement_image_travels_and_is_intact_after_import(enhanced, settings, tmp_path):
    store, cid, out = enhanced
    bundle = export_case(store, cid, tmp_path / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    names = [rel for rel in manifest["files"] if rel.startswith("enhancements/")]
    assert len(names) == 1 and manifest["bundle_version"] == 3
    other = CaseStore(settings.with_(home=tmp_path / "colleague"), actor="colleague")
    try:
        new = import_case(other, bundle)
        (rec,) = list_enhancements(other, new)
        image = load_enhancement_image(other.home, rec)
        assert image is not None and pixel_sha256(image) == pixel_sha256(out) == rec.get(
            "output_pixel_sha256"
        )
        assert other.verify(new).ok
    finally:
        other.close()


def test_an_enhancement_image_the_chain_does_not_record_is_refused(enhanced, settings, tmp_path):
    store, cid, _ = enhanced
    bundle = export_case(store, cid, tmp_path / "case.zip")
    # swap in another image under a consistent name, size and hash: the audit entry still names the first
    import hashlib
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(synthetic_face(96, seed=9)).save(buf, format="PNG")
    data = buf.getvalue()
    rel = f"enhancements/{hashlib.sha256(data).hexdigest()}.png"
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(forged, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        old = next(f for f in manifest["files"] if f.startswith("enhancements/"))
        del manifest["files"][old]
        manifest["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        raw = json.dumps(manifest).encode()
        dst.writestr("manifest.json", raw)
        dst.writestr("manifest.sha256", hashlib.sha256(raw).hexdigest() + "  manifest.json\n")
        for name in src.namelist():
            if name not in ("manifest.json", "manifest.sha256", old):
                dst.writestr(name, src.read(name))
        dst.writestr(rel, data)
    other = CaseStore(settings.with_(home=tmp_path / "colleague"), actor="colleague")
    try:
        with pytest.raises(BundleError, match="not the one the case's audit chain records"):
            import_case(other, forged)
        assert other.list_cases() == []
    finally:
        other.close()


def test_a_case_without_enhancements_still_writes_a_version_2_bundle(settings, tmp_path):
    store = CaseStore(settings)
    try:
        cid = store.create_case("Plain")
        bundle = export_case(store, cid, tmp_path / "plain.zip")
        with zipfile.ZipFile(bundle) as zf:
            assert json.loads(zf.read("manifest.json"))["bundle_version"] == 2
    finally:
        store.close()
