"""Scoring one case: the paper's metrics (``MetricSuite``) and the analyst's (``metrics/analyst.py``).

Work is shared so that nothing runs twice per case: landmarks are found once per image (target, evidence,
every candidate) and serve dlib, arcface and faceres alike; the target and the evidence are embedded once;
faceres analyses all faces of a case in one batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.cases import BenchmarkCase
from tfgnet_desk.evaluate.metrics import analyst as an
from tfgnet_desk.evaluate.metrics.faces import NO_FACE
from tfgnet_desk.evaluate.metrics.suite import MetricSuite


@dataclass
class CaseScorer:
    """Scores a case's outputs (``{method: [candidate, ...]}``); ``seconds`` / ``cpu`` accumulate the time
    spent in the suite (``metrics``) and in faceres (``faceres``)."""

    suite: MetricSuite
    analysis: an.FaceAnalysis = field(default_factory=an.FaceAnalysis)
    seconds: dict[str, float] = field(default_factory=lambda: {"metrics": 0.0, "faceres": 0.0})
    cpu: dict[str, float] = field(default_factory=lambda: {"metrics": 0.0, "faceres": 0.0})

    def __post_init__(self) -> None:
        self.locator = self.suite.locator()
        self.landmarks = self.suite.needs_landmarks() or self.analysis.available

    def locate(self, img: np.ndarray) -> Any:
        return self.locator.locate(img) if self.landmarks else None

    def _tick(self, key: str, t0: float, c0: float) -> None:
        self.seconds[key] += time.perf_counter() - t0
        self.cpu[key] += time.process_time() - c0

    def score(self, case: BenchmarkCase, outputs: dict[str, list[np.ndarray]]) -> dict[str, Any]:
        suite = self.suite
        t0, c0 = time.perf_counter(), time.process_time()
        target_det = self.locate(case.target)
        ev_det, ev_source = (
            self.locator.locate_evidence(case.lq, case.meta) if self.landmarks else (None, "encoder")
        )
        dets = {m: [self.locate(img) for img in imgs] for m, imgs in outputs.items()}
        tfeats = suite.target_features(case.target, target_det)
        ev_emb = (
            suite.embed_identity(case.lq, ev_det) if ev_source != NO_FACE else dict.fromkeys(suite.identity)
        )
        embs = {
            m: [suite.embed_identity(img, d) for img, d in zip(imgs, dets[m], strict=True)]
            for m, imgs in outputs.items()
        }
        scores = suite.score_outputs(case.target, case.text, outputs, tfeats, embeddings=embs)
        for m, imgs in outputs.items():
            scores[m].update(an.identity_scores(embs[m], ev_emb, tfeats["identity"], suite.identity))
            scores[m].update(an.diversity(imgs, embs[m], suite.identity))
            scores[m].update(an.sharpness(imgs))
        self._tick("metrics", t0, c0)

        t0, c0 = time.perf_counter(), time.process_time()
        target_check: dict[str, Any] = {}
        faceres_ok = False
        if self.analysis.available:
            names = list(outputs)
            images = [case.target, case.lq] + [img for m in names for img in outputs[m]]
            found = self.analysis.analyse(images, [target_det, ev_det] + [d for m in names for d in dets[m]])
            fr_target, fr_ev, rest = found[0], found[1], found[2:]
            faceres_ok = fr_ev is not None
            attrs = tuple(self.analysis.probes.attributes) if self.analysis.probes is not None else ()
            for m in names:
                mine, rest = rest[: len(outputs[m])], rest[len(outputs[m]) :]
                scores[m].update(an.faceres_scores(mine, fr_target, fr_ev, self.analysis.net))
                scores[m].update(an.judge(case.text, mine, attrs))
            target_check = an.judge(case.text, [fr_target], attrs)
        self._tick("faceres", t0, c0)
        return {
            "case": case.case_id,
            "text": case.text,
            "identity": case.meta.get("identity"),
            "gender": case.gender,
            "tier": case.meta.get("tier"),
            "candidates": {m: len(imgs) for m, imgs in outputs.items()},
            "evidence": {
                "source": ev_source,
                "embedded": {n: e is not None for n, e in ev_emb.items()},
                "faceres": faceres_ok,
            },
            "scores": scores,
            "target_check": target_check,
        }
