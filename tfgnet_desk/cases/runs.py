"""``store.runs``: the run lifecycle of the case store, and run look-ups.

A part of :class:`~tfgnet_desk.cases.store.CaseStore` (composition: it holds the store's
:class:`~tfgnet_desk.cases.store_db.StoreDB`).

A run is written as it happens: :meth:`~RunRecords.start` inserts it with status 'running',
:meth:`~RunRecords.add_candidate` stores each candidate as soon as the pipeline decodes it, and
:meth:`~RunRecords.finish` ends it ('done', 'failed', 'cancelled' or 'interrupted'). A run left
'running' by a crash is closed as 'interrupted' by :meth:`~RunRecords.close_interrupted`, keeping the
candidates it already stored. :meth:`~RunRecords.record` records a whole finished run in one
transaction through the same steps, so that both paths leave the same audit story: ``run.start``, one
``candidate.store`` per candidate, ``run.finish``, ``case.touch``.

A run records everything needed to repeat it: evidence (by hash), prompt, parameters, per-candidate seeds,
profile, device, model manifest hash, library versions, the pipeline's full provenance and the reference
photo its 'reference' scores were computed against. Candidates are stored as content-addressed PNGs marked
synthetic, with their pixel hashes for ``verify-run``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgnet_desk.cases.evidence import StoredFile, pixel_sha256, provenance_text, store_candidate_png
from tfgnet_desk.cases.rows import NotFound, jsonable
from tfgnet_desk.cases.run_steps import (
    FINISHED_STATES,
    RUNNING,
    add_tx,
    finish_tx,
    require_new_index,
    require_running,
    start_tx,
)
from tfgnet_desk.cases.store_db import StoreDB

INTERRUPTED_ERROR = "the application stopped during the run"


class RunRecords:
    """The run rows of the store (``store.runs``): look-ups and the run lifecycle."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db

    def get(self, run_id: int) -> dict[str, Any]:
        return self.db.one("SELECT * FROM runs WHERE id = ?", (run_id,), f"no run {run_id}")

    def find(self, spec: str | int) -> int:
        """Resolve a run id or a uid prefix (at least 4 characters)."""
        s = str(spec).strip()
        with self.db.lock:
            if s.isdigit() and self.db.conn.execute("SELECT 1 FROM runs WHERE id = ?", (int(s),)).fetchone():
                return int(s)
            rows = (
                self.db.conn.execute("SELECT id FROM runs WHERE uid LIKE ?", (s.lower() + "%",)).fetchall()
                if len(s) >= 4
                else []
            )
        if len(rows) == 1:
            return int(rows[0][0])
        raise NotFound(f"no run matches {s!r}" if not rows else f"{s!r} matches several runs")

    def of_case(self, case_id: int) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM runs WHERE case_id = ? ORDER BY id", (case_id,))

    # The run lifecycle -----------------------------------------------------------------------------------
    def start(
        self,
        case_id: int,
        evidence_ids: Sequence[int],
        *,
        prompt: str,
        parameters: dict,
        profile: str = "",
        device: str = "",
        model_hash: str = "",
        library_versions: dict | None = None,
        reference_id: int | None = None,
        started_at: str | None = None,
    ) -> int:
        """A new run of ``case_id`` with status 'running'; returns its id (audit ``run.start``).

        ``evidence_ids`` and ``reference_id`` (the reference photo the run's identity scores are computed
        against) must be evidence of the case, of either kind; :class:`NotFound` otherwise, and nothing is
        written.
        """
        with self.db.transaction() as c:
            return start_tx(
                self.db,
                c,
                uuid.uuid4().hex,
                case_id,
                evidence_ids,
                prompt=prompt,
                parameters=parameters,
                profile=profile,
                device=device,
                model_hash=model_hash,
                library_versions=library_versions,
                reference_id=reference_id,
                started_at=started_at,
            )

    def add_candidate(
        self, run_id: int, index: int, seed: int, image: np.ndarray, scores: dict | None = None
    ) -> int:
        """Store one candidate of a 'running' run; returns the candidate id (audit ``candidate.store``).

        The image is written as ``candidates/<sha256>.png`` with the synthetic label, run uid, index,
        seed and model hash. Raises :class:`ValueError` when the run is not 'running', when it already has
        a candidate ``index``, or for an image that is not RGB uint8 ``(H, W, 3)``.
        """
        img = _rgb(image)
        with self.db.lock:  # refuse before the file is written (checked again inside the transaction)
            run = self.db.conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if run is None:
                raise NotFound(f"no run {run_id}")
            require_running(run)
            require_new_index(self.db.conn, int(run_id), int(index))
        stored = _store_png(self.db.home, run["uid"], int(index), int(seed), run["model_hash"], img)
        with self.db.transaction() as c:
            return add_tx(self.db, c, int(run_id), int(index), int(seed), stored, pixel_sha256(img), scores)

    def finish(
        self,
        run_id: int,
        status: str,
        *,
        provenance: dict | None = None,
        library_versions: dict | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """End a 'running' run as ``status`` ('done', 'failed', 'cancelled', 'interrupted'); returns it.

        Sets ``finished_at``, the pipeline's ``provenance`` (made JSON-safe; kept as it is when None),
        ``library_versions`` (when given) and ``error``; records ``run.finish`` and touches the case.
        Raises :class:`ValueError` for another status or a run that is not 'running' (finished twice).
        """
        with self.db.transaction() as c:
            finish_tx(
                self.db,
                c,
                int(run_id),
                status,
                provenance=provenance,
                library_versions=library_versions,
                error=error,
            )
        return self.get(run_id)

    def close_interrupted(self, error: str = INTERRUPTED_ERROR) -> list[int]:
        """Mark every run still 'running' as 'interrupted' (with ``error``); returns their ids.

        The application calls this when it opens the store, so that a run cut short by a crash keeps its
        stored candidates and says why it has no more. Call it only when no other process is running a
        generation on the same store.
        """
        with self.db.transaction() as c:
            ids = [
                int(r[0]) for r in c.execute("SELECT id FROM runs WHERE status = ? ORDER BY id", (RUNNING,))
            ]
            for rid in ids:
                finish_tx(self.db, c, rid, "interrupted", error=error)
        return ids

    def record(
        self,
        case_id: int,
        evidence_ids: Sequence[int],
        result: Any,
        *,
        prompt: str | None = None,
        parameters: dict[str, Any] | None = None,
        profile: str | None = None,
        device: str | None = None,
        model_hash: str | None = None,
        library_versions: dict[str, str] | None = None,
        started_at: str | None = None,
        status: str = "done",
        error: str | None = None,
        reference_id: int | None = None,
    ) -> int:
        """Record a whole generation run and store its candidates, in one transaction; returns the run id.

        ``result`` is the pipeline's ``GenerationResult`` (``candidates`` with ``index``, ``seed``,
        ``image``, ``scores``; ``provenance``), or None for a failed or cancelled run (``status``
        'failed'/'cancelled', ``error`` says why). Missing keyword values are taken from the pipeline's
        provenance (``provenance.build_provenance``): ``request`` (the parameters and its ``prompt``),
        ``model.manifest_hash``, ``model.profile``, ``libraries`` and ``device``. The same steps as
        :meth:`start`, :meth:`add_candidate` and :meth:`finish`, and the same audit entries.
        """
        prov = jsonable(getattr(result, "provenance", None) or {}) if result is not None else {}
        request = prov.get("request") if isinstance(prov.get("request"), dict) else {}
        model_info = prov.get("model") if isinstance(prov.get("model"), dict) else {}
        params = jsonable(parameters) if parameters is not None else dict(request)
        prompt = prompt if prompt is not None else str(request.get("prompt", ""))
        model_hash = model_hash or str(model_info.get("manifest_hash") or "")
        versions = jsonable(library_versions or prov.get("libraries") or {})
        profile = profile or str(model_info.get("profile") or getattr(self.db.settings, "profile", ""))
        device = device or str(prov.get("device") or getattr(self.db.settings, "device", ""))
        if status not in FINISHED_STATES:
            raise ValueError(f"a recorded run ends as one of {FINISHED_STATES}, not {status!r}")
        uid = uuid.uuid4().hex
        files = []
        for cand in list(getattr(result, "candidates", None) or []):
            # written before the transaction: content-addressed, harmless if it rolls back
            img = _rgb(cand.image)
            stored = _store_png(self.db.home, uid, int(cand.index), int(cand.seed), model_hash, img)
            files.append((cand, stored, pixel_sha256(img)))
        with self.db.transaction() as c:
            run_id = start_tx(
                self.db,
                c,
                uid,
                case_id,
                evidence_ids,
                prompt=prompt,
                parameters=params,
                profile=profile,
                device=device,
                model_hash=model_hash,
                library_versions=versions,
                reference_id=reference_id,
                started_at=started_at,
            )
            for cand, stored, pix in files:
                scores = getattr(cand, "scores", None)
                add_tx(self.db, c, run_id, int(cand.index), int(cand.seed), stored, pix, scores)
            finish_tx(self.db, c, run_id, status, provenance=prov, error=error)
        return run_id


def _rgb(image: Any) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"a candidate image is RGB (H, W, 3), not {img.shape}")
    return np.ascontiguousarray(img.astype(np.uint8, copy=False))


def _store_png(home, run_uid: str, index: int, seed: int, model_hash: str, img: np.ndarray) -> StoredFile:
    return store_candidate_png(home, img, provenance_text(run_uid, index, seed, model_hash or ""))
