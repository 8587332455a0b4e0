"""Case bundles: one case as a zip file, to hand over to a colleague or archive, that round-trips.

The zip holds ``manifest.json`` (the case, its evidence (crops and reference photos, by ``kind``), runs
(each naming its evidence and reference photo by SHA-256), candidates and its whole audit chain, plus
the SHA-256 and size of every file), ``manifest.sha256`` and the files themselves at their store paths
(``evidence/<sha256>``, ``candidates/<sha256>.png``, which also holds the runs' restored faces, and
``enhancements/<sha256>.png``, the images of the case's third-party enhancements of the evidence, each
checked against the audit entry that records it). Nothing
in it depends on local row ids, so the audit chain of the case still verifies after import. Import checks
everything before it writes: the manifest hash, every file's hash (against the manifest, its own
content-addressed name and the row that names it; candidate PNGs also by decoded pixels), the audit
chain, and that each row matches the last state its chain recorded; a bundle that fails any check, or a
damaged zip, is refused whole. A candidate's pixel hash is :func:`tfgnet_desk.hashing.pixel_sha256`, the
one image hash of the store, the run's provenance, the PNG's chunk and the report.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfgnet_desk.cases import audit, states
from tfgnet_desk.cases.audit import AuditEntry, canonical_json, utc_now
from tfgnet_desk.cases.evidence import READ_ONLY, _write_atomic, sha256_file
from tfgnet_desk.cases.restored import restored_entries

if TYPE_CHECKING:
    from tfgnet_desk.cases.store import CaseStore

FORMAT = "tfgnet-desk case bundle"
# 2: evidence ``kind`` and run ``reference``; 3: ``enhancements/<sha256>.png``, the images of the case's
# evidence.enhancement entries (written only when a case has one, so other bundles stay readable by version 2)
BUNDLE_VERSION = 3
_FILE_RE = re.compile(r"^(evidence/[0-9a-f]{64}|(candidates|enhancements)/[0-9a-f]{64}\.png)$")
_CASE_COLS = ("uid", "title", "reference", "analyst", "status", "notes", "created_at", "updated_at")
_EV_COLS = (
    "sha256",
    "original_path",
    "original_name",
    "stored_path",
    "size",
    "width",
    "height",
    "face_box",
    "note",
    "imported_at",
    "kind",
)
_RUN_COLS = (
    "uid",
    "prompt",
    "parameters",
    "profile",
    "device",
    "model_hash",
    "library_versions",
    "provenance",
    "status",
    "started_at",
    "finished_at",
    "error",
)
_CAND_COLS = ("idx", "seed", "file", "sha256", "pixel_sha256", "scores", "picked", "note")


class BundleError(ValueError):
    """A bundle could not be imported (damaged, altered, or the case is already in this store)."""


def build_manifest(store: CaseStore, case_id: int) -> dict[str, Any]:
    """The manifest of a case as it is now (rows decoded, files with their hashes)."""
    case = store.get_case(case_id)
    evidence = store.evidence.of_case(case_id)
    sha_of = {e["id"]: e["sha256"] for e in evidence}
    runs = []
    files: dict[str, dict[str, Any]] = {}
    for e in evidence:
        files[e["stored_path"]] = {"sha256": e["sha256"], "size": e["size"]}
    for r in store.runs.of_case(case_id):
        run = {k: r[k] for k in _RUN_COLS}
        run["evidence"] = [sha_of[i] for i in r["evidence_ids"]]
        run["reference"] = sha_of[r["reference_id"]] if r.get("reference_id") is not None else None
        run["candidates"] = [{k: c[k] for k in _CAND_COLS} for c in store.candidates.of_run(r["id"])]
        for c in run["candidates"]:
            files[c["file"]] = {"sha256": c["sha256"], "size": (store.home / c["file"]).stat().st_size}
        for e in restored_entries(r):  # the run's restored faces (named in its provenance) travel with it
            files[e["file"]] = {"sha256": e["sha256"], "size": (store.home / e["file"]).stat().st_size}
        runs.append(run)
    enhanced = _enhancement_files(store, case_id)
    files.update(enhanced)
    from tfgnet_desk import __version__

    return {
        "format": FORMAT,
        "bundle_version": BUNDLE_VERSION if enhanced else 2,
        "software": f"tfgnet-desk {__version__}",
        "exported_at": utc_now(),
        "exported_by": store.actor,
        "case": {k: case[k] for k in _CASE_COLS},
        "evidence": [{k: e[k] for k in _EV_COLS} for e in evidence],
        "runs": runs,
        "audit": [e.to_dict() for e in store.audit_trail(case_id)],
        "audit_head": list(store.audit_head(case_id)),
        "files": dict(sorted(files.items())),
    }


def _enhancement_files(store: CaseStore, case_id: int) -> dict[str, dict[str, Any]]:
    """The stored images of the case's enhancements of the evidence that are still intact (a missing or
    altered one is left out: its audit entry travels and says what it was)."""
    from tfgnet_desk.cases.enhancements import list_enhancements

    out = {}
    for rec in list_enhancements(store, case_id):
        rel, digest = rec.get("output_file"), rec.get("output_file_sha256")
        path = store.home / rel if isinstance(rel, str) and _FILE_RE.match(rel) else None
        if path is not None and path.is_file() and sha256_file(path) == digest:
            out[rel] = {"sha256": digest, "size": path.stat().st_size}
    return out


def export_case(store: CaseStore, case_id: int, out: Path | str) -> Path:
    """Write the case to the zip ``out`` (atomically); records a ``case.export`` audit entry first."""
    out = Path(out)
    rep = store.verify(case_id)
    if not rep.ok:
        raise BundleError("the case fails verification; not exported:\n" + "\n".join(rep.problems))
    store.log_event(case_id, "case.export", bundle=out.name)
    manifest = build_manifest(store, case_id)
    data = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", data)
        zf.writestr("manifest.sha256", hashlib.sha256(data).hexdigest() + "  manifest.json\n")
        for rel in manifest["files"]:
            zf.write(store.home / rel, rel)
    tmp.replace(out)
    return out


def read_bundle(path: Path | str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The checked manifest and file contents of a bundle; raises :class:`BundleError` on any mismatch.

    A damaged zip (bad CRC, truncated data, a broken manifest) is refused in one line, like an altered
    one. Every file must hash to the SHA-256 in its own content-addressed name, and to the row that names
    it (evidence ``sha256``; candidate ``sha256`` and, decoded, ``pixel_sha256``): recomputing the
    manifest's hashes after editing a file does not make the edit importable.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"'{path.name}' is not a case bundle (not a readable zip file): {exc}") from exc
    try:
        with zf:
            manifest, files = _read_checked(zf, path.name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"'{path.name}' is damaged (unreadable zip data): {exc}") from exc
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise BundleError(f"'{path.name}' is damaged (malformed manifest: {type(exc).__name__})") from exc
    _check_rows_name_their_files(manifest, files)
    try:
        entries = [AuditEntry.from_dict(d) for d in manifest["audit"]]
        problems = audit.verify_chain(entries, tuple(manifest["audit_head"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"the bundle's audit chain is malformed: {type(exc).__name__}") from exc
    if problems:
        raise BundleError("the bundle's audit chain does not verify: " + "; ".join(problems))
    return manifest, files


def _read_checked(zf: zipfile.ZipFile, name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    names = set(zf.namelist())
    if not {"manifest.json", "manifest.sha256"} <= names:
        raise BundleError(f"'{name}' is not a case bundle (no manifest)")
    raw = zf.read("manifest.json")
    if zf.read("manifest.sha256").decode().split()[0] != hashlib.sha256(raw).hexdigest():
        raise BundleError("the bundle's manifest was altered (its hash does not match)")
    manifest = json.loads(raw)
    if manifest.get("format") != FORMAT or int(manifest.get("bundle_version", 0)) > BUNDLE_VERSION:
        raise BundleError("unsupported bundle format or version")
    files: dict[str, bytes] = {}
    for rel, meta in manifest["files"].items():
        if not _FILE_RE.match(rel) or rel not in names:
            raise BundleError(f"the bundle lacks or misnames the file {rel!r}")
        if zf.getinfo(rel).file_size != meta["size"]:  # checked before anything is decompressed
            raise BundleError(f"the file {rel} in the bundle has the wrong size")
        data = zf.read(rel)
        digest = hashlib.sha256(data).hexdigest()
        if digest != meta["sha256"] or len(data) != meta["size"]:
            raise BundleError(f"the file {rel} in the bundle was altered (hash mismatch)")
        if digest != _name_hash(rel):
            raise BundleError(f"the file {rel} was altered (it no longer hashes to its own name)")
        files[rel] = data
    return manifest, files


def _name_hash(rel: str) -> str:
    """The SHA-256 a content-addressed store path names (``evidence/<h>``, ``candidates/<h>.png``)."""
    return rel.split("/", 1)[1].removesuffix(".png")


def _check_rows_name_their_files(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    """Each evidence and candidate row names a file of the bundle whose bytes (and, for a candidate PNG,
    decoded pixels) hash to what the row says; each enhancement image is named by an enhancement entry of
    the audit chain, with the bytes and decoded pixels it records."""
    from tfgnet_desk.hashing import pixel_sha256

    for e in manifest.get("evidence", []):
        rel = e.get("stored_path")
        if rel not in files or _name_hash(rel) != e.get("sha256"):
            raise BundleError(f"evidence {str(e.get('original_name'))[:80]!r} does not match its file")
    for r in manifest.get("runs", []):
        for c in r.get("candidates", []):
            rel = c.get("file")
            if rel not in files or _name_hash(rel) != c.get("sha256"):
                raise BundleError(f"candidate {c.get('idx')} of run {r.get('uid')} does not match its file")
            if c.get("pixel_sha256"):
                try:
                    pixels = _decode_png(files[rel])
                except (OSError, ValueError) as exc:
                    raise BundleError(f"candidate file {rel} is not a readable PNG") from exc
                if pixel_sha256(pixels) != c["pixel_sha256"]:
                    raise BundleError(f"candidate {c.get('idx')} of run {r.get('uid')}: pixels altered")
    _check_enhancement_files(manifest, files)


def _check_enhancement_files(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    from tfgnet_desk.cases.enhancements import ACTION
    from tfgnet_desk.hashing import pixel_sha256

    named = {
        d["details"].get("output_file"): d["details"]
        for d in manifest.get("audit", [])
        if isinstance(d, dict) and d.get("action") == ACTION and isinstance(d.get("details"), dict)
    }
    for rel in (f for f in files if f.startswith("enhancements/")):
        entry = named.get(rel)
        if entry is None or entry.get("output_file_sha256") != _name_hash(rel):
            raise BundleError(f"the enhancement image {rel} is not the one the case's audit chain records")
        try:
            pixels = _decode_png(files[rel])
        except (OSError, ValueError) as exc:
            raise BundleError(f"the enhancement image {rel} is not a readable PNG") from exc
        if pixel_sha256(pixels) != entry.get("output_pixel_sha256"):
            raise BundleError(f"the enhancement image {rel}: pixels altered")


def _decode_png(data: bytes):
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def import_case(store: CaseStore, path: Path | str) -> int:
    """Import a bundle as a new case of ``store``; returns the new case id. All or nothing."""
    manifest, files = read_bundle(path)
    entries = [AuditEntry.from_dict(d) for d in manifest["audit"]]
    case = manifest["case"]
    uid = case["uid"]
    if any(e.chain != uid for e in entries):
        raise BundleError("the bundle's audit entries belong to another case")
    for rel, data in files.items():  # content-addressed: harmless if the transaction below rolls back
        target = store.home / rel
        if not (target.is_file() and sha256_file(target) == manifest["files"][rel]["sha256"]):
            _write_atomic(target, data, READ_ONLY)
    with store.transaction() as c:
        if (
            c.execute("SELECT 1 FROM cases WHERE uid = ?", (uid,)).fetchone()
            or c.execute("SELECT 1 FROM audit_head WHERE chain = ?", (uid,)).fetchone()
        ):
            raise BundleError(f"case {uid} ({case['title']}) is already in this store")
        cid = _insert(c, "cases", _CASE_COLS, [case[k] for k in _CASE_COLS])
        ev_id: dict[str, int] = {}
        for e in manifest["evidence"]:
            e = {"kind": "crop", **e}  # a version-1 bundle has no kind: its evidence are crops
            vals = [canonical_json(e[k]) if k == "face_box" and e[k] is not None else e[k] for k in _EV_COLS]
            ev_id[e["sha256"]] = _insert(c, "evidence", ("case_id", *_EV_COLS), [cid, *vals])
        for r in manifest["runs"]:
            vals = [
                canonical_json(r[k]) if k in ("parameters", "library_versions", "provenance") else r[k]
                for k in _RUN_COLS
            ]
            if any(
                s not in ev_id for s in [*r["evidence"], *([r["reference"]] if r.get("reference") else [])]
            ):
                raise BundleError(f"run {r['uid']} names evidence that the bundle does not hold")
            ids = canonical_json([ev_id[s] for s in r["evidence"]])
            ref = ev_id[r["reference"]] if r.get("reference") else None
            cols = ("case_id", "evidence_ids", "reference_id", *_RUN_COLS)
            rid = _insert(c, "runs", cols, [cid, ids, ref, *vals])
            for k in r["candidates"]:
                cv = [
                    canonical_json(k[f]) if f == "scores" else int(k[f]) if f == "picked" else k[f]
                    for f in _CAND_COLS
                ]
                _insert(c, "candidates", ("run_id", *_CAND_COLS), [rid, *cv])
        audit.insert_entries(c, entries)
        _check_states(c, cid, entries)
        store.append_audit(
            uid,
            "case.import",
            states.case_key(uid),
            None,
            bundle=Path(path).name,
            exported_by=manifest.get("exported_by"),
            exported_at=manifest.get("exported_at"),
        )
        store.append_audit(audit.STORE_CHAIN, "case.import", states.case_key(uid), None, title=case["title"])
    return int(cid)


def _insert(conn, table: str, cols: tuple[str, ...], values: list[Any]) -> int:
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    return int(conn.execute(sql, values).lastrowid)


def _check_states(conn, case_id: int, entries: list[AuditEntry]) -> None:
    recorded = {e.object: e.details["state"] for e in entries if "state" in e.details}
    current = states.case_row_states(conn, case_id)
    bad = sorted(k for k in current.keys() | recorded.keys() if current.get(k) != recorded.get(k))
    if bad:
        raise BundleError("the bundle's rows do not match its audit chain: " + ", ".join(bad[:5]))
