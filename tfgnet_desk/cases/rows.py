"""Row helpers of the case store: the not-found error, JSON-safe conversion, row decoding, and a run
row's status in words."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

_JSON_COLUMNS = {
    "face_box",
    "detected_box",
    "evidence_ids",
    "parameters",
    "library_versions",
    "provenance",
    "scores",
}


class NotFound(KeyError):
    """No such case, evidence, run or candidate."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples, paths and dataclasses turned into JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        return jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist() if obj.size <= 64 else f"<array {obj.shape} {obj.dtype}>"
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN or infinity
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(obj)


def decode_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for k in _JSON_COLUMNS & out.keys():
        if out[k] is not None:
            out[k] = json.loads(out[k])
    if "picked" in out:
        out["picked"] = bool(out["picked"])
    if "kind" in out and out["kind"] is None:  # evidence imported before schema version 3: a crop
        out["kind"] = "crop"
    return out


def run_status_text(run: dict[str, Any], n_candidates: int) -> str:
    """'done', or e.g. 'cancelled: 2 of 4 candidates' for a run that did not (yet) do all its work."""
    if run["status"] == "done":
        return "done"
    params = run.get("parameters")
    want = params.get("n_candidates") if isinstance(params, dict) else None
    of = f" of {want}" if isinstance(want, int) and not isinstance(want, bool) else ""
    return f"{run['status']}: {n_candidates}{of} candidate{'' if n_candidates == 1 and not of else 's'}"
