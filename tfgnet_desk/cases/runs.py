"""Runs and candidates of the case store (a mixin of :class:`~tfgnet_desk.cases.store.CaseStore`).

A run records everything needed to repeat it: evidence (by hash), prompt, parameters, per-candidate seeds,
profile, device, model manifest hash, library versions and the pipeline's full provenance. Its candidates
are stored as content-addressed PNGs marked synthetic, with their pixel hashes for ``verify-run``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.cases import states
from tfgnet_desk.cases.audit import canonical_json, utc_now
from tfgnet_desk.cases.evidence import pixel_sha256, provenance_text, store_candidate_png
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


class RunsMixin:
    """Run and candidate methods; relies on the store's ``_write``, ``_one``, ``_all``, ``_audit``."""

    # Runs and candidates ---------------------------------------------------------------------------------
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
    ) -> int:
        """Record a generation run and store its candidates; returns the run id.

        ``result`` is the pipeline's ``GenerationResult`` (``candidates`` with ``index``, ``seed``,
        ``image``, ``scores``; ``provenance``), or None for a failed or cancelled run (``status``
        'failed'/'cancelled', ``error`` says why). Missing keyword values are taken from
        ``result.provenance`` (keys ``prompt``, ``parameters`` or the request's fields, ``profile``,
        ``device``, ``model_hash``, ``library_versions``). Each candidate is written as
        ``candidates/<sha256>.png`` with its synthetic label, run uid, seed and model hash.
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
        ev_ids = [int(e) for e in evidence_ids]
        uid = uuid.uuid4().hex
        cands = list(getattr(result, "candidates", None) or [])
        files = []
        for cand in cands:  # written before the transaction: content-addressed, harmless if it rolls back
            img = np.asarray(cand.image, dtype=np.uint8)
            text = provenance_text(uid, int(cand.index), int(cand.seed), model_hash)
            files.append((cand, store_candidate_png(self.home, img, text), pixel_sha256(img)))
        with self._write() as c:
            case = self._case_row(case_id)
            shas = []
            for e in ev_ids:
                row = c.execute(
                    "SELECT sha256 FROM evidence WHERE id = ? AND case_id = ?", (e, case_id)
                ).fetchone()
                if row is None:
                    raise NotFound(f"evidence {e} is not in case {case_id}")
                shas.append(row[0])
            cur = c.execute(
                "INSERT INTO runs (uid, case_id, evidence_ids, prompt, parameters, profile, device, "
                "model_hash, library_versions, provenance, status, started_at, finished_at, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    case_id,
                    canonical_json(ev_ids),
                    prompt,
                    canonical_json(params),
                    profile,
                    device,
                    model_hash,
                    canonical_json(versions),
                    canonical_json(prov),
                    status,
                    started_at or utc_now(),
                    utc_now(),
                    error,
                ),
            )
            run_id = int(cur.lastrowid)
            run = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            self._audit(
                case["uid"],
                "run.record",
                states.run_key(uid),
                states.run_state(run, shas),
                prompt=prompt,
                status=status,
                model_hash=model_hash,
                n_candidates=len(files),
            )
            for cand, stored, pix in files:
                scores = jsonable(getattr(cand, "scores", {}) or {})
                cur = c.execute(
                    "INSERT INTO candidates (run_id, idx, seed, file, sha256, pixel_sha256, scores) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        int(cand.index),
                        int(cand.seed),
                        stored.relpath,
                        stored.sha256,
                        pix,
                        canonical_json(scores),
                    ),
                )
                k = c.execute("SELECT * FROM candidates WHERE id = ?", (cur.lastrowid,)).fetchone()
                self._audit(
                    case["uid"],
                    "candidate.store",
                    states.candidate_key(uid, k["idx"]),
                    states.candidate_state(k, uid),
                    seed=k["seed"],
                    sha256=stored.sha256,
                    scores=scores,
                )
            self._touch(case_id)
            self._audit(
                case["uid"],
                "case.touch",
                states.case_key(case["uid"]),
                states.case_state(self._case_row(case_id)),
            )
        return run_id

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self._one("SELECT * FROM runs WHERE id = ?", (run_id,), f"no run {run_id}")

    def find_run(self, spec: str | int) -> int:
        """Resolve a run id or a uid prefix (at least 4 characters)."""
        s = str(spec).strip()
        with self._lock:
            if s.isdigit() and self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (int(s),)).fetchone():
                return int(s)
            rows = (
                self.conn.execute("SELECT id FROM runs WHERE uid LIKE ?", (s.lower() + "%",)).fetchall()
                if len(s) >= 4
                else []
            )
        if len(rows) == 1:
            return int(rows[0][0])
        raise NotFound(f"no run matches {s!r}" if not rows else f"{s!r} matches several runs")

    def list_runs(self, case_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM runs WHERE case_id = ? ORDER BY id", (case_id,))

    def list_candidates(self, run_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM candidates WHERE run_id = ? ORDER BY idx", (run_id,))

    def get_candidate(self, candidate_id: int) -> dict[str, Any]:
        return self._one(
            "SELECT * FROM candidates WHERE id = ?", (candidate_id,), f"no candidate {candidate_id}"
        )

    def candidate_path(self, candidate_id: int) -> Path:
        return self.home / self.get_candidate(candidate_id)["file"]

    def picked_candidates(self, case_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT k.* FROM candidates k JOIN runs r ON r.id = k.run_id "
            "WHERE r.case_id = ? AND k.picked = 1 ORDER BY r.id, k.idx",
            (case_id,),
        )

    def set_pick(self, candidate_id: int, picked: bool = True) -> dict[str, Any]:
        """Mark (or unmark) a candidate as picked by the analyst."""
        return self._update_candidate(candidate_id, "candidate.pick", picked=int(bool(picked)))

    def annotate(self, candidate_id: int, note: str) -> dict[str, Any]:
        """Set the analyst's note on a candidate."""
        return self._update_candidate(candidate_id, "candidate.note", note=str(note))

    def _update_candidate(self, candidate_id: int, action: str, **fields: Any) -> dict[str, Any]:
        with self._write() as c:
            k = c.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            if k is None:
                raise NotFound(f"no candidate {candidate_id}")
            sets = ", ".join(f"{f} = ?" for f in fields)
            c.execute(f"UPDATE candidates SET {sets} WHERE id = ?", (*fields.values(), candidate_id))
            k = c.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
            run = c.execute("SELECT uid, case_id FROM runs WHERE id = ?", (k["run_id"],)).fetchone()
            case = self._case_row(run["case_id"])
            self._audit(
                case["uid"],
                action,
                states.candidate_key(run["uid"], k["idx"]),
                states.candidate_state(k, run["uid"]),
                **fields,
            )
        return self.get_candidate(candidate_id)


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
