"""The run lifecycle of the case store (a mixin of :class:`~tfgnet_desk.cases.store.CaseStore`).

A run is written as it happens: :meth:`~RunsMixin.start_run` inserts it with status 'running',
:meth:`~RunsMixin.add_candidate` stores each candidate as soon as the pipeline decodes it, and
:meth:`~RunsMixin.finish_run` ends it ('done', 'failed', 'cancelled' or 'interrupted'). A run left
'running' by a crash is closed as 'interrupted' by :meth:`~RunsMixin.close_interrupted_runs`, keeping the
candidates it already stored. :meth:`~RunsMixin.record_run` records a whole finished run in one
transaction through the same steps, so that both paths leave the same audit story: ``run.start``, one
``candidate.store`` per candidate, ``run.finish``, ``case.touch``.

A run records everything needed to repeat it: evidence (by hash), prompt, parameters, per-candidate seeds,
profile, device, model manifest hash, library versions, the pipeline's full provenance and the reference
photo its 'reference' scores were computed against. Candidates are stored as content-addressed PNGs marked
synthetic, with their pixel hashes for ``verify-run``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgnet_desk.cases import states
from tfgnet_desk.cases.audit import canonical_json, utc_now
from tfgnet_desk.cases.candidates import CandidatesMixin
from tfgnet_desk.cases.evidence import StoredFile, pixel_sha256, provenance_text, store_candidate_png
from tfgnet_desk.cases.rows import NotFound, jsonable

PARAM_KEYS = (
    "n_candidates",
    "seed",
    "steps",
    "guidance",
    "strength",
    "face_boxes",
    "image_size",
    "scheduler",
)
RUNNING = "running"
FINISHED_STATES = ("done", "failed", "cancelled", "interrupted")
INTERRUPTED_ERROR = "the application stopped during the run"


class RunsMixin(CandidatesMixin):
    """Run lifecycle methods (the store's ``transaction``, ``_lock``, ``append_audit``, ``_case_row``)."""

    # Public API ------------------------------------------------------------------------------------------
    def start_run(
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
        with self.transaction() as c:
            return self._start_tx(
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
        with self._lock:  # refuse before the file is written (checked again inside the transaction)
            run = self.conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if run is None:
                raise NotFound(f"no run {run_id}")
            _require_running(run)
            _require_new_index(self.conn, int(run_id), int(index))
        stored = _store_png(self.home, run["uid"], int(index), int(seed), run["model_hash"], img)
        with self.transaction() as c:
            return self._add_tx(c, int(run_id), int(index), int(seed), stored, pixel_sha256(img), scores)

    def finish_run(
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
        with self.transaction() as c:
            self._finish_tx(
                c, int(run_id), status, provenance=provenance, library_versions=library_versions, error=error
            )
        return self.get_run(run_id)

    def close_interrupted_runs(self, error: str = INTERRUPTED_ERROR) -> list[int]:
        """Mark every run still 'running' as 'interrupted' (with ``error``); returns their ids.

        The application calls this when it opens the store, so that a run cut short by a crash keeps its
        stored candidates and says why it has no more. Call it only when no other process is running a
        generation on the same store.
        """
        with self.transaction() as c:
            ids = [
                int(r[0]) for r in c.execute("SELECT id FROM runs WHERE status = ? ORDER BY id", (RUNNING,))
            ]
            for rid in ids:
                self._finish_tx(c, rid, "interrupted", error=error)
        return ids

    def record_run(
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
        'failed'/'cancelled', ``error`` says why). Missing keyword values are taken from
        ``result.provenance`` (keys ``prompt``, ``parameters`` or the request's fields, ``profile``,
        ``device``, ``model_hash``, ``library_versions``). The same steps as :meth:`start_run`,
        :meth:`add_candidate` and :meth:`finish_run`, and the same audit entries.
        """
        prov = jsonable(getattr(result, "provenance", None) or {}) if result is not None else {}
        model_info = prov.get("model") if isinstance(prov.get("model"), dict) else {}
        params = jsonable(parameters) if parameters is not None else _params_from(prov)
        prompt = prompt if prompt is not None else str(prov.get("prompt", params.get("prompt", "")))
        model_hash = model_hash or str(
            _first(prov, "model_hash", "model_manifest_hash", "manifest_sha256", default="")
            or model_info.get("manifest_hash")
            or ""
        )
        versions = jsonable(library_versions or _first(prov, "library_versions", "libraries", default={}))
        profile = profile or str(
            prov.get("profile") or model_info.get("profile") or getattr(self.settings, "profile", "")
        )
        device = device or str(prov.get("device", getattr(self.settings, "device", "")))
        if status not in FINISHED_STATES:
            raise ValueError(f"a recorded run ends as one of {FINISHED_STATES}, not {status!r}")
        uid = uuid.uuid4().hex
        files = []
        for cand in list(getattr(result, "candidates", None) or []):
            # written before the transaction: content-addressed, harmless if it rolls back
            img = _rgb(cand.image)
            stored = _store_png(self.home, uid, int(cand.index), int(cand.seed), model_hash, img)
            files.append((cand, stored, pixel_sha256(img)))
        with self.transaction() as c:
            run_id = self._start_tx(
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
                self._add_tx(c, run_id, int(cand.index), int(cand.seed), stored, pix, scores)
            self._finish_tx(c, run_id, status, provenance=prov, error=error)
        return run_id

    # Steps inside a write transaction --------------------------------------------------------------------
    def _start_tx(
        self,
        c: sqlite3.Connection,
        uid: str,
        case_id: int,
        evidence_ids: Sequence[int],
        *,
        prompt: str,
        parameters: dict,
        profile: str,
        device: str,
        model_hash: str,
        library_versions: dict | None,
        reference_id: int | None,
        started_at: str | None,
    ) -> int:
        case = self._case_row(case_id)
        ev_ids = [int(e) for e in evidence_ids]
        shas = [self._case_evidence_sha(c, case_id, e) for e in ev_ids]
        ref_sha = None
        if reference_id is not None:
            reference_id = int(reference_id)
            ref_sha = self._case_evidence_sha(c, case_id, reference_id, "reference photo")
        params = jsonable(dict(parameters or {}))
        versions = jsonable(dict(library_versions or {}))
        cur = c.execute(
            "INSERT INTO runs (uid, case_id, evidence_ids, prompt, parameters, profile, device, model_hash, "
            "library_versions, provenance, status, started_at, finished_at, error, reference_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, NULL, NULL, ?)",
            (
                uid,
                case_id,
                canonical_json(ev_ids),
                str(prompt),
                canonical_json(params),
                str(profile or ""),
                str(device or ""),
                str(model_hash or ""),
                canonical_json(versions),
                RUNNING,
                started_at or utc_now(),
                reference_id,
            ),
        )
        run_id = int(cur.lastrowid)
        run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        self.append_audit(
            case["uid"],
            "run.start",
            states.run_key(uid),
            states.run_state(run, shas, ref_sha),
            prompt=str(prompt),
            model_hash=str(model_hash or ""),
            evidence=shas,
            reference=ref_sha,
        )
        return run_id

    def _case_evidence_sha(
        self, c: sqlite3.Connection, case_id: int, ev_id: int, what: str = "evidence"
    ) -> str:
        row = c.execute(
            "SELECT sha256 FROM evidence WHERE id = ? AND case_id = ?", (ev_id, case_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"{what} {ev_id} is not in case {case_id}")
        return str(row[0])

    def _run_context(self, c: sqlite3.Connection, run_id: int) -> tuple[sqlite3.Row, str]:
        """The run row and its case's uid (the audit chain to write to)."""
        run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if run is None:
            raise NotFound(f"no run {run_id}")
        return run, self._case_row(run["case_id"])["uid"]

    def _add_tx(
        self,
        c: sqlite3.Connection,
        run_id: int,
        index: int,
        seed: int,
        stored: StoredFile,
        pix: str,
        scores: dict | None,
    ) -> int:
        run, case_uid = self._run_context(c, run_id)
        _require_running(run)
        _require_new_index(c, run_id, index)
        clean = jsonable(dict(scores or {}))
        cur = c.execute(
            "INSERT INTO candidates (run_id, idx, seed, file, sha256, pixel_sha256, scores) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, index, seed, stored.relpath, stored.sha256, pix, canonical_json(clean)),
        )
        k = c.execute("SELECT * FROM candidates WHERE id = ?", (cur.lastrowid,)).fetchone()
        self.append_audit(
            case_uid,
            "candidate.store",
            states.candidate_key(run["uid"], index),
            states.candidate_state(k, run["uid"]),
            seed=seed,
            sha256=stored.sha256,
            scores=clean,
        )
        return int(k["id"])

    def _finish_tx(
        self,
        c: sqlite3.Connection,
        run_id: int,
        status: str,
        *,
        provenance: dict | None = None,
        library_versions: dict | None = None,
        error: str | None = None,
    ) -> None:
        if status not in FINISHED_STATES:
            raise ValueError(f"a run finishes as one of {FINISHED_STATES}, not {status!r}")
        run, case_uid = self._run_context(c, run_id)
        _require_running(run)
        sets = {"status": status, "finished_at": utc_now(), "error": None if error is None else str(error)}
        if provenance is not None:
            sets["provenance"] = canonical_json(jsonable(dict(provenance)))
        if library_versions is not None:
            sets["library_versions"] = canonical_json(jsonable(dict(library_versions)))
        c.execute(
            f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?", (*sets.values(), run_id)
        )
        run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        ev_ids = json.loads(run["evidence_ids"])
        shas = [self._case_evidence_sha(c, run["case_id"], int(e)) for e in ev_ids]
        ref = run["reference_id"]
        ref_sha = self._case_evidence_sha(c, run["case_id"], int(ref)) if ref is not None else None
        n = c.execute("SELECT COUNT(*) FROM candidates WHERE run_id = ?", (run_id,)).fetchone()[0]
        self.append_audit(
            case_uid,
            "run.finish",
            states.run_key(run["uid"]),
            states.run_state(run, shas, ref_sha),
            status=status,
            n_candidates=int(n),
            error=run["error"],
        )
        self._touch(run["case_id"])
        self.append_audit(
            case_uid,
            "case.touch",
            states.case_key(case_uid),
            states.case_state(self._case_row(run["case_id"])),
        )


def _rgb(image: Any) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"a candidate image is RGB (H, W, 3), not {img.shape}")
    return np.ascontiguousarray(img.astype(np.uint8, copy=False))


def _store_png(home, run_uid: str, index: int, seed: int, model_hash: str, img: np.ndarray) -> StoredFile:
    return store_candidate_png(home, img, provenance_text(run_uid, index, seed, model_hash or ""))


def _require_new_index(c: sqlite3.Connection, run_id: int, index: int) -> None:
    if c.execute("SELECT 1 FROM candidates WHERE run_id = ? AND idx = ?", (run_id, index)).fetchone():
        raise ValueError(f"run {run_id} already has a candidate {index}")


def _require_running(run: sqlite3.Row) -> None:
    if run["status"] != RUNNING:
        raise ValueError(f"run {run['id']} is {run['status']}, not running: it takes no more changes")


def _first(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if d.get(k) not in (None, ""):
            return d[k]
    return default


def _params_from(prov: dict[str, Any]) -> dict[str, Any]:
    """The run parameters from a provenance dict: its ``parameters``/``request`` entry, or the known keys."""
    for key in ("parameters", "params", "request"):
        if isinstance(prov.get(key), dict):
            return dict(prov[key])
    return {k: prov[k] for k in PARAM_KEYS if k in prov}
