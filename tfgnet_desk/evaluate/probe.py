"""Quick probes on benchmark cases (``scripts/restorer_sweep.py``, ``scripts/vae_probe.py``): named rows
of images scored with the evaluation's own framing, landmarks and dlib encoder: centred Face Sim to the
target and to the evidence, and face-region sharpness. ``python -m tfgnet_desk.evaluate`` stays the
figure of record; a probe is the learning-curve check between training steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class ProbeRows:
    """Per-row lists of scores; :meth:`case` embeds one case's target and evidence, :meth:`add` scores
    an image of that case under a row name."""

    def __init__(self) -> None:
        from tfgnet_desk.evaluate.metrics.resolve import build_suite
        from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX

        self.suite = build_suite([], identity=["dlib-resnet"], face_box=BENCHMARK_FACE_BOX)
        self.encoder = self.suite.identity["dlib-resnet"]
        self.locator = self.suite.locator()
        self.rows: dict[str, dict[str, list[float]]] = {}
        self._target: Any = None
        self._evidence: Any = None

    def _embed(self, img: np.ndarray, det) -> Any:
        return self.suite.embed_identity(img, det)["dlib-resnet"]

    def case(self, case) -> None:
        """Embed ``case``'s target photo and evidence (the references of the next :meth:`add` calls)."""
        self._target = self._embed(case.target, self.locator.locate(case.target))
        ev_det, _ = self.locator.locate_evidence(case.lq, case.meta)
        self._evidence = self._embed(case.lq, ev_det)

    def add(self, name: str, img: np.ndarray) -> None:
        from tfgnet_desk.evaluate.metrics.analyst import face_sharpness

        r = self.rows.setdefault(name, {"target": [], "evidence": [], "sharp": []})
        e = self._embed(img, self.locator.locate(img))
        for key, ref in (("target", self._target), ("evidence", self._evidence)):
            if e is not None and ref is not None:
                r[key].append(100.0 * self.encoder.calibrated_similarity(e, ref))
        r["sharp"].append(face_sharpness(img))

    def summary(self) -> dict[str, dict[str, Any]]:
        """Row -> mean ``target``, ``evidence``, ``sharp`` (None without a face) and ``n``."""
        return {
            name: {k: (float(np.mean(v)) if v else None) for k, v in r.items()} | {"n": len(r["target"])}
            for name, r in self.rows.items()
        }

    def report(self, title: str, json_path: Path | None = None) -> dict[str, dict[str, Any]]:
        """Print the table (and write it as JSON when asked); returns :meth:`summary`."""
        out = self.summary()
        print(title)
        print(f"{'row':<18} {'vs target':>10} {'vs evidence':>12} {'sharpness':>10}")
        for name, r in out.items():
            cells = [f"{r[k]:.1f}" if r[k] is not None else "n/a" for k in ("target", "evidence", "sharp")]
            print(f"{name:<18} {cells[0]:>10} {cells[1]:>12} {cells[2]:>10}")
        if json_path is not None:
            Path(json_path).write_text(json.dumps(out, indent=1))
        return out
