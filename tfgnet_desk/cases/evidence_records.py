"""``store.evidence``: importing evidence into a case, its face box, detection, notes and exclusion.

A part of :class:`~tfgnet_desk.cases.store.CaseStore` (composition: it holds the store's
:class:`~tfgnet_desk.cases.store_db.StoreDB`, nothing else). Files are copied read-only and
content-addressed by :mod:`.evidence`; every row change writes its audit entry in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.cases import states
from tfgnet_desk.cases.audit import canonical_json, utc_now
from tfgnet_desk.cases.evidence import decode_evidence, read_evidence, store_evidence_bytes
from tfgnet_desk.cases.store_db import StoreDB

EVIDENCE_KINDS = ("crop", "reference")


def face_box_json(box: Sequence[int] | None) -> str | None:
    """A face box ``(x0, y0, x1, y1)`` as stored (canonical JSON), after checking it; None stays None."""
    if box is None:
        return None
    vals = [int(v) for v in box]
    if len(vals) != 4 or vals[2] <= vals[0] or vals[3] <= vals[1]:
        raise ValueError(f"a face box is (x0, y0, x1, y1) with x1 > x0 and y1 > y0, not {tuple(box)}")
    return canonical_json(vals)


class EvidenceRecords:
    """The evidence rows of the store (``store.evidence``)."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db

    def import_file(
        self,
        case_id: int,
        path: Path | str,
        face_box: Sequence[int] | None = None,
        note: str = "",
        kind: str = "crop",
    ) -> int:
        """Validate, hash and copy ``path`` into the store (read-only); returns the evidence id.

        ``kind`` is 'crop' (an image of the person to generate from) or 'reference' (a photo of a known
        person that candidates are scored against). Raises :class:`EvidenceError` (a sentence for the
        analyst) for a file that is not a usable image; nothing is stored then. The same bytes imported
        twice into a case return the existing id, whatever ``kind`` the second import names: the row
        keeps the kind it was first imported as (``store.runs.start`` accepts either kind).
        """
        src = Path(path)
        data, img = read_evidence(src)
        return self._add(case_id, data, img, str(src.resolve()), src.name, face_box, note, kind)

    def import_bytes(
        self,
        case_id: int,
        data: bytes,
        name: str,
        *,
        face_box: Sequence[int] | None = None,
        note: str = "",
        kind: str = "crop",
    ) -> int:
        """Import pasted or dragged image data as :meth:`import_file` imports a file.

        The bytes are validated as an image before anything is written (:class:`EvidenceError`
        otherwise) and stored content-addressed; ``original_path`` is ``pasted:<name>`` and
        ``original_name`` is ``name``.
        """
        img = decode_evidence(data, name or "pasted image")
        data = bytes(data)
        return self._add(case_id, data, img, f"pasted:{name}", name, face_box, note, kind)

    def _add(
        self,
        case_id: int,
        data: bytes,
        img: np.ndarray,
        original_path: str,
        original_name: str,
        face_box: Sequence[int] | None,
        note: str,
        kind: str,
    ) -> int:
        if kind not in EVIDENCE_KINDS:
            raise ValueError(f"evidence kind is one of {EVIDENCE_KINDS}, not {kind!r}")
        box = face_box_json(face_box)
        with self.db.lock:  # a missing case is refused before a file is written
            self.db.case_row(case_id)
        stored = store_evidence_bytes(self.db.home, data)
        h, w = img.shape[:2]
        with self.db.transaction() as c:
            case = self.db.case_row(case_id)
            dup = c.execute(
                "SELECT * FROM evidence WHERE case_id = ? AND sha256 = ?", (case_id, stored.sha256)
            ).fetchone()
            if dup is None:
                cur = c.execute(
                    "INSERT INTO evidence (case_id, sha256, original_path, original_name, stored_path, size, "
                    "width, height, face_box, note, imported_at, kind) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        case_id,
                        stored.sha256,
                        original_path,
                        original_name,
                        stored.relpath,
                        stored.size,
                        w,
                        h,
                        box,
                        note,
                        utc_now(),
                        kind,
                    ),
                )
                ev_id = int(cur.lastrowid)
                row = c.execute("SELECT * FROM evidence WHERE id = ?", (ev_id,)).fetchone()
                self.db.append_audit(
                    case["uid"],
                    "evidence.import",
                    states.evidence_key(stored.sha256),
                    states.evidence_state(row),
                    original_path=original_path,
                    size=stored.size,
                    kind=kind,
                )
                return ev_id
        ev_id = int(dup["id"])
        if states.late_column(dup, "excluded_at") is not None:  # a removed crop imported again
            self.include(ev_id)
        return ev_id

    def set_face_box(self, evidence_id: int, face_box: Sequence[int] | None) -> dict[str, Any]:
        return self._update(evidence_id, "evidence.face_box", face_box=face_box_json(face_box))

    def annotate(self, evidence_id: int, note: str) -> dict[str, Any]:
        return self._update(evidence_id, "evidence.note", note=note)

    def record_detection(self, evidence_id: int, box: Sequence[int] | None, detector: str) -> None:
        """Keep the face detection of a stored image (derived data: not audited, see schema version 4)."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE evidence SET detected_box = ?, detector = ? WHERE id = ?",
                (face_box_json(box), str(detector), evidence_id),
            )

    def stored_detection(self, evidence_id: int) -> tuple[tuple[int, int, int, int] | None, str] | None:
        """``(box, detector)`` kept by :meth:`record_detection`, or None when the image was never analysed."""
        row = self.get(evidence_id)
        if row.get("detector") is None:
            return None
        box = row.get("detected_box")
        return (tuple(int(v) for v in box) if box else None), str(row["detector"])

    def exclude(self, evidence_id: int, reason: str = "") -> dict[str, Any]:
        """Take a crop out of use (audited ``evidence.excluded``); its file and row stay in the case."""
        return self._update(
            evidence_id, "evidence.excluded", excluded_at=utc_now(), excluded_reason=reason.strip()
        )

    def include(self, evidence_id: int) -> dict[str, Any]:
        """Undo :meth:`exclude` (audited ``evidence.included``)."""
        return self._update(evidence_id, "evidence.included", excluded_at=None, excluded_reason=None)

    def _update(self, evidence_id: int, action: str, **fields: Any) -> dict[str, Any]:
        with self.db.transaction():
            row = self.db.update_row("evidence", evidence_id, "evidence", **fields)
            case = self.db.case_row(row["case_id"])
            self.db.append_audit(
                case["uid"],
                action,
                states.evidence_key(row["sha256"]),
                states.evidence_state(row),
                **{k: json.loads(v) if k == "face_box" and v else v for k, v in fields.items()},
            )
        return self.get(evidence_id)

    def get(self, evidence_id: int) -> dict[str, Any]:
        sql = "SELECT * FROM evidence WHERE id = ?"
        return self.db.one(sql, (evidence_id,), f"no evidence {evidence_id}")

    def of_case(self, case_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        """The case's evidence in import order; ``kind`` ('crop' or 'reference') filters, None: all."""
        if kind is None:
            return self.db.all("SELECT * FROM evidence WHERE case_id = ? ORDER BY id", (case_id,))
        return self.db.all(
            "SELECT * FROM evidence WHERE case_id = ? AND COALESCE(kind, 'crop') = ? ORDER BY id",
            (case_id, kind),
        )

    def path(self, evidence_id: int) -> Path:
        """The read-only stored copy (never the analyst's original)."""
        return self.db.home / self.get(evidence_id)["stored_path"]

    def load_image(self, evidence_id: int) -> np.ndarray:
        from tfgnet_desk.imaging import load_image

        return load_image(self.path(evidence_id))
