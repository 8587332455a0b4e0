"""The evaluation loop: every case through every method, metrics per case, set metrics at the end.

A case that cannot be read, or a method that fails on one case, is reported (in the log, in
``skipped.json`` and in the run metadata) and the run goes on; a method that cannot run at all
(``MethodUnavailable``) is dropped after its first failure with its reason recorded. Per-case results are
written as JSON as soon as they are known, so an interrupted run keeps what it computed.

A method with ``run_candidates`` gives several candidates per case (``tfgnet --candidates K``); scoring is
in ``scoring.CaseScorer``. The flip test (``flip.py``) runs on the first ``flip_cases`` cases for the
``flip_methods``. Wall and CPU seconds are kept per method, for the flip test per method
(``flip:<method>``), and for the metrics and faceres.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.cases import CaseError, list_cases, load_case
from tfgnet_desk.evaluate.methods import Method, MethodUnavailable, to_size
from tfgnet_desk.evaluate.metrics import analyst as an
from tfgnet_desk.evaluate.metrics.suite import MetricSuite, candidate_mean
from tfgnet_desk.evaluate.scoring import CaseScorer

log = logging.getLogger("tfgnet_desk.evaluate")
FIGURE_CASES = 6


@dataclass
class RunResult:
    """What the report needs: aggregated and per-case scores, skips, timings, figure material."""

    methods: list[str]
    summary: dict[str, dict[str, float | None]]  # method -> metric key -> mean (or set value)
    counts: dict[str, dict[str, int]]  # method -> metric key -> number of values
    per_case: list[dict[str, Any]]
    skipped_cases: list[dict[str, str]] = field(default_factory=list)
    method_errors: list[dict[str, str]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # method -> total wall seconds
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # method -> total process CPU seconds
    figure: list[dict[str, Any]] = field(default_factory=list)
    cases_total: int = 0
    cases_start: int = 0  # cases of the benchmark skipped before this run's first (``--start``)
    stopped_early: str | None = None  # why the run stopped before the last case (time budget)
    evidence: dict[str, Any] = field(default_factory=dict)  # how the evidence face was found, failures
    faceres: dict[str, Any] = field(default_factory=dict)  # faceres / probes availability and labels
    flip: dict[str, Any] = field(default_factory=dict)  # flip-test bookkeeping (cases asked, run, methods)
    case_counts: dict[str, int] = field(default_factory=dict)  # time key -> cases it covers (per-case times)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return v


def _outputs_of(m: Method, case: Any) -> list[np.ndarray]:
    imgs = m.run_candidates(case) if hasattr(m, "run_candidates") else [m.run(case)]
    return [to_size(np.asarray(img, dtype=np.uint8), case.target.shape[:2]) for img in imgs]


def run_evaluation(
    bench: Path,
    methods: list[Method],
    suite: MetricSuite,
    out: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    on_case: Callable[[int, int], None] | None = None,
    time_budget_s: float | None = None,
    analysis: an.FaceAnalysis | None = None,
    flip_methods: list[Method] | None = None,
    flip_cases: int | None = None,
    start: int = 0,
) -> RunResult:
    """Evaluate ``methods`` on the cases of ``bench`` (the first ``limit`` in name order, after skipping
    the first ``start``: a long evaluation split into runs; every case keeps its own seed).

    ``time_budget_s``: no new case is started once this many seconds have passed; the cases done so far
    are reported (cases are in name order, and the benchmark's cases are a random draw of identities, so
    the first N are a random subset), and ``stopped_early`` says so. ``analysis``: faceres and its probes
    (faceres columns n/a without). ``flip_methods`` / ``flip_cases``: the flip test's methods and the
    number of cases it runs on (None: all; it needs the probes)."""
    folders = list_cases(bench)
    if start < 0:
        raise ValueError(f"start must be 0 or more, not {start}")
    folders = folders[start:]
    if limit is not None:
        folders = folders[: max(0, int(limit))]
    analysis = analysis or an.FaceAnalysis(
        missing="faceres not requested", probes_missing="faceres not requested"
    )
    flip_methods = [m for m in (flip_methods or []) if m in methods]
    if analysis.probes is None:
        flip_methods = []
    names = [m.name for m in methods]
    active = list(methods)
    per_case: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    unavailable: dict[str, str] = {}
    scorer = CaseScorer(suite, analysis)
    seconds = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    flip_run = 0
    figure: list[dict[str, Any]] = []
    if out is not None:
        (out / "cases").mkdir(parents=True, exist_ok=True)

    @contextmanager
    def timed(key: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
            cpu[key] = cpu.get(key, 0.0) + time.process_time() - c0

    started = time.perf_counter()
    stopped: str | None = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(folders), desc="evaluate", unit="case")
    for i, folder in enumerate(folders):
        if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
            stopped = f"time budget of {time_budget_s / 60:.1f} min reached after {i} of {len(folders)} cases"
            log.warning("stopping: %s", stopped)
            break
        try:
            case = load_case(folder)
        except CaseError as exc:
            log.warning("skipping case: %s", exc)
            skipped.append({"case": folder.name, "reason": str(exc)})
            _tick(bar, on_case, i, len(folders))
            continue
        outputs: dict[str, list[np.ndarray]] = {}
        for m in list(active):
            with timed(m.name):
                try:
                    outputs[m.name] = _outputs_of(m, case)
                except MethodUnavailable as exc:
                    log.warning("method %s unavailable: %s", m.name, exc)
                    unavailable[m.name] = str(exc)
                    active.remove(m)
                except Exception as exc:  # a method failing on one case must not end the run
                    log.warning("method %s failed on %s: %s", m.name, case.case_id, exc)
                    errors.append(
                        {"case": case.case_id, "method": m.name, "error": f"{type(exc).__name__}: {exc}"}
                    )
        record = scorer.score(case, outputs)
        flippers = [m for m in flip_methods if m in active]
        if flippers and (flip_cases is None or flip_run < flip_cases):
            from tfgnet_desk.evaluate.flip import run_flip

            try:
                record["flip"] = run_flip(
                    case,
                    flippers,
                    analysis,
                    scorer.locate,
                    case.target.shape[:2],
                    timer=lambda name: timed(f"flip:{name}"),
                )
                flip_run += 1
            except Exception as exc:  # noqa: BLE001 - reported; the case's other scores stand
                log.warning("flip test failed on %s: %s", case.case_id, exc)
                errors.append(
                    {"case": case.case_id, "method": "flip", "error": f"{type(exc).__name__}: {exc}"}
                )
        per_case.append(record)
        if out is not None:
            (out / "cases" / f"{case.case_id}.json").write_text(
                json.dumps(record, indent=2, sort_keys=True, default=_json_value) + "\n"
            )
        if len(figure) < FIGURE_CASES:
            figure.append(
                {
                    "case": case.case_id,
                    "lq": case.lq,
                    "text": case.text,
                    "target": case.target,
                    "outputs": {m: imgs[0] for m, imgs in outputs.items() if imgs},
                }
            )
        _tick(bar, on_case, i, len(folders))
    if bar is not None:
        bar.close()

    kept = [n for n in names if n not in unavailable]
    summary, counts = _aggregate(per_case, kept, suite)
    for key in ("metrics", "faceres"):
        seconds[key], cpu[key] = scorer.seconds[key], scorer.cpu[key]
    case_counts = {k: len(per_case) for k in ("metrics", "faceres")}
    case_counts.update({f"flip:{m.name}": flip_run for m in flip_methods})
    return RunResult(
        methods=kept,
        summary=summary,
        counts=counts,
        per_case=per_case,
        skipped_cases=skipped,
        method_errors=errors,
        unavailable=unavailable,
        seconds=seconds,
        cpu_seconds=cpu,
        figure=figure,
        cases_total=len(folders),
        cases_start=start,
        stopped_early=stopped,
        evidence=an.evidence_summary(per_case),
        faceres={
            "available": analysis.available,
            "calibrated": analysis.calibrated,
            "probes": analysis.probes is not None,
            "missing": analysis.missing,
            "probes_missing": analysis.probes_missing,
            "val_auc": dict(getattr(analysis.probes, "val_auc", {}) or {}),
            "age_young_below": an.AGE_YOUNG_BELOW,
            "probe_threshold": an.PROBE_THRESHOLD,
        },
        flip={
            "methods": [m.name for m in flip_methods],
            "cases_requested": flip_cases,
            "cases_run": flip_run,
        },
        case_counts=case_counts,
    )


def _tick(bar: Any, on_case: Callable[[int, int], None] | None, i: int, n: int) -> None:
    if bar is not None:
        bar.update(1)
    if on_case is not None:
        on_case(i + 1, n)


def _aggregate(per_case: list[dict[str, Any]], methods: list[str], suite: MetricSuite):
    pair_keys = [c.key for c in suite.columns() if c.kind == "pair" and c.available]
    summary: dict[str, dict[str, float | None]] = {m: {} for m in methods}
    counts: dict[str, dict[str, int]] = {m: {} for m in methods}
    for m in methods:
        for k in pair_keys:
            vals = [rec["scores"][m].get(k) for rec in per_case if m in rec["scores"]]
            summary[m][k] = candidate_mean(vals)  # the same rule: None skipped, inf wins
            counts[m][k] = sum(v is not None for v in vals)
        counts[m]["cases"] = sum(m in rec["scores"] for rec in per_case)
    set_values = suite.set_metrics(methods)
    set_counts = suite.set_counts(methods)
    for m in methods:
        summary[m].update(set_values[m])
        counts[m].update(set_counts[m])
    from tfgnet_desk.evaluate.flip import aggregate_flip

    for part in (an.aggregate(per_case, methods), aggregate_flip(per_case, methods)):
        for m, vals in part[0].items():
            summary.setdefault(m, {}).update(vals)
            counts.setdefault(m, {}).update(part[1][m])
    return summary, counts
