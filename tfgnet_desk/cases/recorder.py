"""Recording a run in the case store as it happens: the one recorder of the window and of
``tfgnet-desk generate --case``, so that a headless run is as auditable as one made in the window.

``start`` writes the run row (status 'running', audit ``run.start``) before the pipeline starts; ``add``
stores each candidate the moment it arrives (a crash later loses nothing that arrived); ``finish`` ends the
run once, as 'done', 'failed', 'cancelled' or 'interrupted', with the pipeline's provenance and the
restored faces (``cases/restored.py``). Callers decide what to do when the store refuses a candidate (the
window keeps a labelled copy under ``pending/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RunRecorder:
    """One run of ``case_id`` from ``evidence_ids`` (the crops it used, in order) as the store sees it."""

    def __init__(
        self,
        store: Any,
        case_id: int,
        evidence_ids: Sequence[int],
        *,
        prompt: str,
        parameters: dict[str, Any],
        profile: str = "",
        device: str = "",
        model_hash: str = "",
        reference_id: int | None = None,
    ) -> None:
        self.store, self.case_id = store, int(case_id)
        self.evidence_ids = [int(e) for e in evidence_ids]
        self.prompt, self.parameters = prompt, dict(parameters)
        self.profile, self.device, self.model_hash = profile, device, model_hash
        self.reference_id = reference_id
        self.run_id: int | None = None
        self.candidate_ids: dict[int, int] = {}  # candidate index -> its row
        self.finished = False

    def start(self) -> int:
        """Write the run row (once); returns its id."""
        if self.run_id is None:
            self.run_id = self.store.runs.start(
                self.case_id,
                self.evidence_ids,
                prompt=self.prompt,
                parameters=self.parameters,
                profile=self.profile,
                device=self.device,
                model_hash=self.model_hash,
                reference_id=self.reference_id,
            )
        return self.run_id

    def add(self, index: int, seed: int, image: Any, scores: dict | None = None) -> int:
        """Store one candidate now; returns its row id. Raises what the store raises."""
        if self.run_id is None:
            raise RuntimeError("the run was not recorded (start() first)")
        cid = self.store.runs.add_candidate(self.run_id, int(index), int(seed), image, dict(scores or {}))
        self.candidate_ids[int(index)] = cid
        return cid

    def add_candidate(self, candidate: Any) -> int:
        """:meth:`add` for a ``pipeline.Candidate`` (index, seed, image, scores)."""
        return self.add(candidate.index, candidate.seed, candidate.image, candidate.scores)

    def finish(
        self,
        status: str,
        provenance: dict | None = None,
        error: str | None = None,
        restored: Sequence[Any] | None = None,
    ) -> None:
        """End the run once as ``status``, with the pipeline's provenance (its ``libraries`` recorded).

        ``restored``: the result's restored faces (one per evidence image), kept with the run
        (``cases/restored.py``) and named in its provenance, so that the run shows them again later."""
        if self.run_id is None or self.finished:
            return
        self.finished = True
        if restored:
            from tfgnet_desk.cases.restored import KEY, store_restored_faces

            try:
                uid = self.store.runs.get(self.run_id)["uid"]
                faces = store_restored_faces(self.store.home, uid, self.model_hash, list(restored))
            except (OSError, ValueError):  # the run still ends; it only lacks its restored face
                faces = None
            if faces:
                provenance = {**(provenance or {}), KEY: faces}
        libraries = (provenance or {}).get("libraries")
        self.store.runs.finish(
            self.run_id, status, provenance=provenance, library_versions=libraries, error=error
        )
