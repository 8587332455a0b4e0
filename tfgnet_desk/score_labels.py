"""One vocabulary for identity scores, wherever an analyst or a script sees one.

A candidate's scores are a dict ``{name: IdentityScore}`` (stored runs: ``{name: {raw, calibrated,
backend, ...}}``); the names are:

- ``evidence``: against the face in the evidence crop the analyst supplied (the first crop of a run with
  several), embedded once per run from the analyst's face box / the detected landmarks;
- ``reference``: against the reference photo, when the analyst gave one;
- ``restored``: runs recorded before scores were taken against the evidence compared each candidate with
  the model's own restored face. That score is circular (candidates are made from the restored face), so
  new runs never produce it; old records keep it and it is shown as what it is.

The restored face itself gets a score against the evidence (``GenerationResult.restored_scores``,
provenance ``restored_scores``), shown wherever the restored face is shown. No Qt here: the command lines,
the case store, the window and the report all use these labels.

Candidates are numbered one way everywhere an analyst reads them: ``candidate_label(index)`` is "#1" for
index 0 (the first seed), in the window, the compare view, the PDF, ``case show`` and ``result.json``
(which keeps the 0-based ``index`` beside it for scripts).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

EVIDENCE = "evidence"
REFERENCE = "reference"
OLD_RESTORED = "restored"  # only in runs recorded before scores were taken against the evidence


def candidate_label(index: int) -> str:
    """The analyst's number of candidate ``index`` (0-based in code and records): '#1', '#2', ..."""
    return f"#{int(index) + 1}"


LABELS: dict[str, str] = {
    EVIDENCE: "vs evidence",
    REFERENCE: "vs reference photo",
    OLD_RESTORED: "vs restored face (old runs)",
}
ORDER = (EVIDENCE, OLD_RESTORED, REFERENCE)  # an old run's restored score stands where evidence would
RESTORED_FACE = "restored face (model output)"


def score_label(name: str) -> str:
    """``evidence`` -> ``vs evidence``; an unknown name ``x`` -> ``vs x``."""
    return LABELS.get(name, f"vs {name}")


def ordered_scores(scores: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """``(name, score)`` pairs in the order they are shown: evidence, old restored, reference, others."""
    scores = scores or {}
    known = [(n, scores[n]) for n in ORDER if n in scores]
    return known + sorted(((n, s) for n, s in scores.items() if n not in ORDER), key=lambda p: p[0])


def score_value(score: Any, key: str) -> float | None:
    """``raw`` / ``calibrated`` / ... of an ``IdentityScore`` or of its stored dict, as a float or None."""
    value = score.get(key) if isinstance(score, Mapping) else getattr(score, key, None)
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None


def score_backend(score: Any) -> str:
    """The backend that produced a score ('' when not recorded)."""
    value = score.get("backend") if isinstance(score, Mapping) else getattr(score, "backend", None)
    return str(value or "")
