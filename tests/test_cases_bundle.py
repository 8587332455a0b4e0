"""Case bundles: export and import round-trip, and altered bundles are refused whole."""

from __future__ import annotations

import json
import zipfile

import pytest
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.bundle import BundleError, build_manifest


@pytest.fixture()
def source(settings, tmp_path):
    store = CaseStore(settings, actor="alice")
    cid = store.create_case("Bundle case", reference="B-7", analyst="Alice", notes="two runs")
    e1 = store.evidence.import_file(cid, make_image(tmp_path / "a.png", seed=1), face_box=(2, 3, 30, 40))
    e2 = store.evidence.import_file(cid, make_image(tmp_path / "b.jpg", seed=2))
    r1 = store.runs.record(cid, [e1], fake_result(n=2, seed=3))
    store.runs.record(cid, [e1, e2], fake_result(n=3, seed=9, prompt="a woman with short hair"))
    k = store.candidates.of_run(r1)[1]["id"]
    store.candidates.set_pick(k)
    store.candidates.annotate(k, "ask the witness")
    yield store, cid
    store.close()


def _comparable(manifest: dict) -> dict:
    return {k: manifest[k] for k in ("case", "evidence", "runs", "files")}


def test_export_import_round_trips(source, settings, tmp_path):
    store, cid = source
    bundle = store.export_case(cid, tmp_path / "case.zip")
    assert store.audit_trail(cid)[-1].action == "case.export"
    other = settings.with_(home=tmp_path / "other-home")
    with CaseStore(other, actor="bob") as dest:
        new_id = dest.import_case(bundle)
        rep = dest.verify()
        assert rep.ok, rep.problems
        assert _comparable(build_manifest(dest, new_id)) == _comparable(build_manifest(store, cid))
        trail_src = [e.hash for e in store.audit_trail(cid)]
        trail_dst = dest.audit_trail(new_id)
        assert [e.hash for e in trail_dst[: len(trail_src)]] == trail_src  # the chain came along verbatim
        assert trail_dst[-1].action == "case.import" and trail_dst[-1].actor == "bob"
        for e in dest.evidence.of_case(new_id):
            assert dest.evidence.path(e["id"]).read_bytes() == (store.home / e["stored_path"]).read_bytes()
        picked = dest.candidates.picked(new_id)
        assert [(p["idx"], p["note"]) for p in picked] == [(1, "ask the witness")]
        # and back again: a second export from the new store carries the same case
        again = dest.export_case(new_id, tmp_path / "again.zip")
        with zipfile.ZipFile(again) as zf:
            m2 = json.loads(zf.read("manifest.json"))
        assert _comparable(m2) == _comparable(build_manifest(store, cid))
        with pytest.raises(BundleError, match="already in this store"):
            dest.import_case(again)


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, change(name, zin.read(name)))


@pytest.mark.parametrize("what", ["file", "manifest", "manifest-and-hash", "not-a-zip"])
def test_altered_bundle_is_refused_and_nothing_is_imported(source, settings, tmp_path, what):
    store, cid = source
    bundle = store.export_case(cid, tmp_path / "case.zip")
    bad = tmp_path / "bad.zip"
    if what == "not-a-zip":
        bad.write_bytes(b"PK\x03\x04 not really")
    elif what == "file":
        _rewrite(bundle, bad, lambda n, d: d[:-1] + b"\x01" if n.startswith("candidates/") else d)
    else:

        def change(name, data):
            if name == "manifest.json":
                m = json.loads(data)
                m["runs"][0]["prompt"] = "a different description"
                return json.dumps(m).encode()
            if name == "manifest.sha256" and what == "manifest-and-hash":
                return b""  # replaced below
            return data

        _rewrite(bundle, bad, change)
        if what == "manifest-and-hash":  # a careful forger also fixes the manifest hash
            import hashlib

            with zipfile.ZipFile(bad) as z:
                m = z.read("manifest.json")
            fixed = tmp_path / "fixed.zip"
            _rewrite(
                bad,
                fixed,
                lambda n, d: (hashlib.sha256(m).hexdigest() + "\n").encode() if n == "manifest.sha256" else d,
            )
            bad = fixed
    other = settings.with_(home=tmp_path / "other-home")
    with CaseStore(other) as dest:
        with pytest.raises(BundleError):
            dest.import_case(bad)
        assert dest.list_cases() == []
        assert dest.verify().ok


def test_export_refuses_a_tampered_case(source, tmp_path):
    import sqlite3

    store, cid = source
    conn = sqlite3.connect(store.settings.cases_db)
    conn.execute("UPDATE runs SET prompt = 'edited'")
    conn.commit()
    conn.close()
    with pytest.raises(BundleError, match="fails verification"):
        store.export_case(cid, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def _corrupt_one_byte_of(bundle, dst, member: str) -> None:
    """Flip one byte of ``member``'s compressed data inside the zip (the CRC no longer matches)."""
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(member)
    # local header: 30 bytes + name + extra, then the data
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0x5A
    dst.write_bytes(bytes(raw))


@pytest.mark.parametrize("member", ["candidates", "manifest.json"])
def test_a_damaged_zip_is_refused_in_one_line_with_exit_2(source, settings, tmp_path, capsys, member):
    """Issue 17 item 2: one corrupt byte in the zip gave a BadZipFile traceback and exit 1."""
    from tfgnet_desk.cli import main

    store, cid = source
    bundle = store.export_case(cid, tmp_path / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        target = next(n for n in zf.namelist() if n.startswith(member))
    bad = tmp_path / "damaged.zip"
    _corrupt_one_byte_of(bundle, bad, target)
    home = tmp_path / "other-home"
    rc = main(["case", "--home", str(home), "import", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "damaged.zip" in lines[0]
    with CaseStore(settings.with_(home=home)) as dest:
        assert dest.list_cases() == []


def test_an_edited_image_with_every_hash_recomputed_is_refused(source, settings, tmp_path):
    """Issue 17 item 3: an image edited inside the zip, its ``files`` entry and ``manifest.sha256``
    recomputed, imported with exit 0. The file no longer hashes to its own name or its row."""
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    store, cid = source
    bundle = store.export_case(cid, tmp_path / "case.zip")
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        m = json.loads(zf.read("manifest.json"))
        victim = next(n for n in names if n.startswith("candidates/"))
        img = np.asarray(Image.open(io.BytesIO(zf.read(victim))).convert("RGB")).copy()
    img[:8, :8] = 255  # a visible edit
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    edited = buf.getvalue()
    m["files"][victim] = {"sha256": hashlib.sha256(edited).hexdigest(), "size": len(edited)}
    raw = json.dumps(m).encode()
    forged = tmp_path / "forged.zip"

    def change(name, data):
        if name == victim:
            return edited
        if name == "manifest.json":
            return raw
        if name == "manifest.sha256":
            return (hashlib.sha256(raw).hexdigest() + "\n").encode()
        return data

    _rewrite(bundle, forged, change)
    with CaseStore(settings.with_(home=tmp_path / "other-home")) as dest:
        with pytest.raises(BundleError, match="altered"):
            dest.import_case(forged)
        assert dest.list_cases() == []
