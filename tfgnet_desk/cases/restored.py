"""The restored face of a run, kept with the run so that the window can show it again for an earlier run
and after a relaunch.

The restored face is the model's own output (the evidence face after its restorer), not evidence. It is
stored like a candidate: a content-addressed PNG ``candidates/<sha256>.png`` (read-only) whose text
chunks say what it is, which run and which model made it. The run's provenance names it under
``restored_faces`` (file, sha256, pixel_sha256, one entry per evidence image), and the provenance is part
of the run's audited state, so the audit chain vouches for the file's hash. Runs recorded before this
was kept (and cancelled or failed runs, which end before a result exists) have no ``restored_faces``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.cases.evidence import store_candidate_png
from tfgnet_desk.hashing import pixel_sha256, sha256_file

KEY = "restored_faces"
RESTORED_LABEL = (
    "MODEL OUTPUT: the face restored by tfgnet-desk from the evidence crop. Not evidence and not a "
    "photograph; shown beside the candidates for comparison only."
)
_FILE_RE = re.compile(r"^candidates/[0-9a-f]{64}\.png$")


def restored_text(run_uid: str, index: int, model_hash: str) -> dict[str, str]:
    """The PNG text chunks of restored face ``index`` (one per evidence image) of a run."""
    return {
        "Synthetic": "true",
        "Description": RESTORED_LABEL,
        "Software": "tfgnet-desk",
        "tfgnet:run": run_uid,
        "tfgnet:restored_face": str(index),
        "tfgnet:model_hash": model_hash,
    }


def store_restored_faces(
    home: Path, run_uid: str, model_hash: str, images: list[np.ndarray]
) -> list[dict[str, str]]:
    """Write the restored faces as read-only PNGs; returns their provenance entries."""
    entries = []
    for i, image in enumerate(images):
        img = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"a restored face is RGB (H, W, 3), not {img.shape}")
        stored = store_candidate_png(Path(home), img, restored_text(run_uid, i, model_hash or ""))
        entries.append({"file": stored.relpath, "sha256": stored.sha256, "pixel_sha256": pixel_sha256(img)})
    return entries


def restored_entries(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's recorded restored faces (``[]`` for runs without them); malformed entries are left out."""
    recorded = (run.get("provenance") or {}).get(KEY)
    if not isinstance(recorded, list):
        return []
    return [
        e
        for e in recorded
        if isinstance(e, dict) and isinstance(e.get("file"), str) and _FILE_RE.match(e["file"])
    ]


def restored_files(run: dict[str, Any]) -> list[str]:
    """Store paths (relative to home) of the run's restored faces."""
    return [e["file"] for e in restored_entries(run)]


def load_restored_face(home: Path, run: dict[str, Any], index: int = 0) -> np.ndarray | None:
    """Restored face ``index`` of ``run``, or None when the run has none, or when its file is missing or
    no longer hashes to what the run recorded (a changed file is never shown as the model's output)."""
    from tfgnet_desk.imaging import load_image

    entries = restored_entries(run)
    if not 0 <= index < len(entries):
        return None
    entry = entries[index]
    path = Path(home) / entry["file"]
    try:
        if sha256_file(path) != entry.get("sha256"):
            return None
        return load_image(path)
    except Exception:  # noqa: BLE001 - missing or unreadable: store verification reports it
        return None
