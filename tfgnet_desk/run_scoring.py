"""The pipeline's score stage: identity scores against the evidence, never against the restored face.

A candidate is made from the model's own restored face, so a score against that face is circular: it
passes every candidate, even one generated from a patch with no readable face. Scores are therefore taken
against what the analyst supplied (names and labels: ``score_labels.py``):

- ``evidence``: the face in evidence image 0, embedded once per run from the detection the restore stage
  made (the analyst's box with landmarks fitted inside it, or the detector's face), never re-detected,
  since evidence crops can be tiny;
- ``reference``: the reference photo, when given;
- the restored face i gets its own ``evidence`` score against the face of evidence image i
  (``GenerationResult.restored_scores``).

The encoder is whatever backend the settings name; every score records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.score_labels import EVIDENCE, REFERENCE

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.faces import IdentityScore
    from tfgnet_desk.framing import PreparedFace
    from tfgnet_desk.pipeline_outputs import Candidate


def embed_face(enc: Any, img: np.ndarray, aligned: bool) -> np.ndarray | None:
    """Identity embedding; aligned faces (the model's) fall back to the whole crop as the face box."""
    from tfgnet_desk import faces

    try:
        if aligned:
            dets = faces.detect_faces(img, use_cnn=False, whole_crop=True, models_dir=enc.models_dir)
            return enc.embed_detection(img, dets[0]) if dets else None
        return enc.embed(img)
    except (faces.NoFaceError, faces.FaceModelError, ValueError):
        return None


def embed_evidence(enc: Any, img: np.ndarray, face: PreparedFace) -> np.ndarray | None:
    """Embedding of the evidence face the restorer used (``face.detection``); None when none was found."""
    from tfgnet_desk import faces

    if face.detection is None:
        return None
    try:
        return enc.embed_detection(img, face.detection)
    except (faces.NoFaceError, faces.FaceModelError, ValueError):
        return None


class RunScorer:
    """Embeds the evidence faces, the restored faces and the reference photo once (``prepare``), then
    scores each candidate as it is decoded (``score``); ``notes`` says what could not be scored."""

    def __init__(self, enc: Any) -> None:
        self.enc = enc
        self.notes: list[str] = []
        self.restored_scores: list[dict[str, IdentityScore]] = []
        self.evidence_emb: np.ndarray | None = None  # evidence image 0: what candidates are scored against
        self.ref_emb: np.ndarray | None = None

    def prepare(
        self,
        images: Sequence[np.ndarray],
        prepared: Sequence[PreparedFace],
        restored: Sequence[np.ndarray],
        reference: np.ndarray | None,
    ) -> None:
        self.restored_scores = [{} for _ in restored]
        if self.enc is None:
            return
        for i, (img, face, rest) in enumerate(zip(images, prepared, restored, strict=True)):
            emb = embed_evidence(self.enc, np.asarray(img), face)
            if i == 0:
                self.evidence_emb = emb
            if emb is None:
                if i > 0:  # image 0: the closing note (no 'evidence' scores at all)
                    self.notes.append(f"no face found in evidence image {i}: no 'evidence' score for it")
                continue
            rest_emb = embed_face(self.enc, rest, aligned=True)
            if rest_emb is None:
                self.notes.append(f"no face found in restored face {i}: no 'evidence' score for it")
            else:
                self.restored_scores[i][EVIDENCE] = self.enc.score_embeddings(rest_emb, emb)
        if reference is not None:
            self.ref_emb = embed_face(self.enc, np.asarray(reference), aligned=False)

    def score(self, cand: Candidate) -> None:
        """Fill ``cand.scores`` with ``evidence`` and ``reference`` where there is something to compare."""
        if self.enc is None:
            return
        emb = embed_face(self.enc, cand.image, aligned=True)
        if emb is None:
            self.notes.append(f"candidate {cand.index}: no face found to score")
            return
        if self.evidence_emb is not None:
            cand.scores[EVIDENCE] = self.enc.score_embeddings(emb, self.evidence_emb)
        if self.ref_emb is not None:
            cand.scores[REFERENCE] = self.enc.score_embeddings(emb, self.ref_emb)

    def close(self, reference_given: bool, identity_error: str | None) -> list[str]:
        """The run's score notes, with what was missing overall."""
        if self.enc is None:
            self.notes.append(f"identity scores unavailable: {identity_error}")
            return self.notes
        if self.evidence_emb is None:
            self.notes.append("no face found in the evidence: no 'evidence' scores")
        if reference_given and self.ref_emb is None:
            self.notes.append("no face found in the reference photo: no 'reference' scores")
        return self.notes
