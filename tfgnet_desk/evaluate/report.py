"""Writing an evaluation run: CSV and Markdown tables shaped like the paper's, a comparison figure,
per-case JSON (written by the runner), the skip list and the run metadata.

Files under ``--out``:
- ``results.csv``: one row per method, one column per metric key (means over cases; FID/FID-id over the
  set), plus ``cases``; numbers only, so that reruns can be compared byte for byte;
- ``results.md``: Table 1/2-shaped (the paper's six metrics), an extended table (centred Face Sim, FID-id,
  PSNR, SSIM, faces found), Table 3-shaped ablations when given, the strength sweep when given, labels
  and n/a reasons, and where the weights of other projects' rows (``realesrgan``) came from;
- ``analyst.csv``: the analyst's metrics (identity against the evidence, best of K, faceres, attribute /
  gender / age agreement, flip test, diversity) per method and for the ``target`` row, each with its count
  (``n_<key>``); their tables are in ``results.md`` too (``report_analyst.py``);
- ``comparison.png``: input | text | methods | target for the first cases (candidate 0 of a K-candidate row);
- ``cases/<case>.json``, ``skipped.json``, ``run.json`` (seed, commit, model manifest hash, machine,
  date, arguments, the methods described (with the provenance of other projects' weights), metric labels,
  every summary value with its count, evidence and flip bookkeeping, timings).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.methods import ABLATION_MODULES, ablation_flags
from tfgnet_desk.evaluate.metrics.suite import MetricColumn
from tfgnet_desk.evaluate.runner import RunResult

PAPER_KEYS = ("face_sim", "dino", "clip_i", "clip_t", "lpips", "fid")
TILE = 128


# ------------------------------------------------------------------------------------------- metadata
def git_commit(repo: Path) -> str:
    """HEAD commit of ``repo`` with ``-dirty`` when tracked files differ; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_manifest_hash(folder: Path | None) -> str | None:
    """The manifest hash of a model folder (``weights.manifest_hash``), else sha256 of MANIFEST.json."""
    if folder is None:
        return None
    try:
        from tfgnet_desk.model_folders.manifest import manifest_hash

        return manifest_hash(folder)
    except Exception:  # noqa: BLE001 - any failure: fall back to hashing the file itself
        path = Path(folder) / "MANIFEST.json"
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------- formatting
def _fmt(key: str, v: float | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if key.startswith(("lpips", "ssim", "fid_id")):  # FID-id: dlib descriptors vary little, values are small
        return f"{v:.4f}"
    return f"{v:.2f}"


def _best(rows: list[str], key: str, higher: bool, summary: dict[str, dict[str, Any]]) -> str | None:
    vals = [(summary[m].get(key), m) for m in rows]
    vals = [(v, m) for v, m in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(vals) < 2:
        return None
    return (max if higher else min)(vals)[1]


def _table(
    rows: list[str],
    cols: list[MetricColumn],
    result: RunResult,
    reference: set[str],
    lead: list[tuple[str, dict[str, str]]] | None = None,
) -> list[str]:
    """Markdown table; the best non-reference value of each column in bold, reference rows in italics."""
    heads = [h for h, _ in (lead or [])] + [c.label + (" ↑" if c.higher_is_better else " ↓") for c in cols]
    lines = ["| method | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    scored = [m for m in rows if m not in reference]
    best = {c.key: _best(scored, c.key, c.higher_is_better, result.summary) for c in cols if c.available}
    for m in rows:
        cells = [vals.get(m, "") for _, vals in (lead or [])]
        for c in cols:
            if not c.available:
                cells.append("n/a")
                continue
            s = _fmt(c.key, result.summary[m].get(c.key))
            cells.append(f"**{s}**" if best.get(c.key) == m else s)
        name = f"*{m}*" if m in reference else m
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _ordered_rows(result: RunResult) -> list[str]:
    """clean-source first (ceiling), random-same-gender last (floor), the rest in the given order."""
    mid = [m for m in result.methods if m not in ("clean-source", "random-same-gender")]
    head = ["clean-source"] if "clean-source" in result.methods else []
    tail = ["random-same-gender"] if "random-same-gender" in result.methods else []
    return head + mid + tail


def markdown_report(
    result: RunResult,
    columns: list[MetricColumn],
    meta: dict[str, Any],
    ablations: list[str],
    strengths: list[str],
) -> str:
    by_key = {c.key: c for c in columns}
    reference = {"clean-source", "random-same-gender"}
    rows = _ordered_rows(result)
    face = [c for c in columns if c.key.startswith("face_sim_")]
    paper_cols = face + [by_key[k] for k in ("dino", "clip_i", "clip_t", "lpips", "fid")]
    extra_cols = [c for c in columns if c.key.startswith(("face_cal_", "fid_id_"))] + [
        by_key["psnr"],
        by_key["ssim"],
    ]
    found = {
        m: ", ".join(str(result.counts[m].get(f"fid_id_{c.key[9:]}", 0)) for c in face if c.available)
        for m in rows
    }
    n_ok = len(result.per_case)
    out = [
        f"# Evaluation: {meta.get('benchmark_name', 'benchmark')}",
        "",
        f"{n_ok} cases scored of {result.cases_total} listed ({len(result.skipped_cases)} skipped"
        + (f"; the first {result.cases_start} skipped by --start" if result.cases_start else "")
        + "); "
        f"seed {meta.get('seed')}; model `{meta.get('model')}` "
        f"(manifest {str(meta.get('manifest_hash'))[:12]}); "
        f"commit {meta.get('commit')}; {meta.get('date')}.",
        "",
        *([f"**Stopped early: {result.stopped_early}.**", ""] if result.stopped_early else []),
        "## Table 1/2 shape: the paper's metrics",
        "",
    ]
    out += _table(rows, paper_cols, result, reference)
    out += [
        "",
        "*clean-source*: the undegraded source photo (ceiling); *random-same-gender*: a random "
        "training face of the target's gender (floor). Bold: best non-reference row.",
        *_candidates_note(result),
        "",
        "## Extended: calibrated identity, identity-space FID, pixel fidelity",
        "",
    ]
    out += _table(rows, extra_cols, result, reference, lead=[("faces found", found)])
    if ablations:
        abl_rows = ablations + [m for m in result.methods if m.startswith("tfgnet")][:1]
        marks = {}
        for j, module in enumerate(ABLATION_MODULES):
            marks[module] = {m: _mark(ablation_flags(m)[j] if m in ablations else True) for m in abl_rows}
        t3_cols = face[:1] + [by_key["lpips"], by_key["fid"]]
        out += ["", "## Table 3 shape: ablations", ""]
        out += _table(
            [m for m in abl_rows if m in result.summary], t3_cols, result, set(), lead=list(marks.items())
        )
    if len(strengths) > 1:
        s_cols = face + [c for c in columns if c.key.startswith("face_cal_")]
        s_cols += [by_key["lpips"], by_key["fid"], by_key["psnr"], by_key["ssim"]]
        out += ["", "## Fidelity knob: tfgnet at each strength", ""]
        out += _table([m for m in strengths if m in result.summary], s_cols, result, set())
    from tfgnet_desk.evaluate.report_analyst import markdown_sections

    encoders = [c.key.removeprefix("face_sim_") for c in face if c.available]
    out += markdown_sections(result, encoders)
    out += _third_party_models(meta)
    out += ["", "## Metrics and backbones", ""]
    for c in columns:
        state = c.note if c.available else f"n/a: {c.note}"
        better = "higher" if c.higher_is_better else "lower"
        out.append(f"- {c.label} (`{c.key}`, {better} is better): {state}")
    if result.unavailable:
        out += ["", "## Methods that could not run", ""]
        out += [f"- {m}: {why}" for m, why in result.unavailable.items()]
    if result.skipped_cases or result.method_errors:
        out += ["", "## Skipped cases and failures", ""]
        out += [f"- {s['case']}: {s['reason']}" for s in result.skipped_cases]
        out += [f"- {e['case']} / {e['method']}: {e['error']}" for e in result.method_errors[:50]]
    out += ["", "## Time per case (wall seconds; process CPU seconds, which do not depend on other load)", ""]
    from tfgnet_desk.evaluate.report_analyst import timing_lines

    out += [f"- {line}" for line in timing_lines(result)]
    out.append("- (flip:<method>: per case that ran the flip test; metrics, faceres: all rows of a case)")
    return "\n".join(out) + "\n"


def _third_party_models(meta: dict[str, Any]) -> list[str]:
    """Where the weights of rows from other projects (``realesrgan``) came from: model, package, hash."""
    rows = [d for d in meta.get("methods_described", []) if d.get("weights_sha256")]
    if not rows:
        return []
    return ["", "## Models from other projects", ""] + [
        f"- {d['name']}: {d.get('model')} from {d.get('package')} {d.get('package_version')} "
        f"(weights sha256 {d['weights_sha256']}; {d.get('licence')})"
        for d in rows
    ]


def _candidates_note(result: RunResult) -> list[str]:
    from tfgnet_desk.evaluate.report_analyst import candidates_per_method

    many = {m: k for m, k in candidates_per_method(result).items() if k > 1}
    if not many:
        return []
    rows = ", ".join(f"{m} ({k})" for m, k in many.items())
    return [
        f"Rows with several candidates per case: {rows}. Their pairwise metrics are means over the "
        "candidates; FID and FID-id use candidate 0 (one sample per case, as every other row)."
    ]


def _json_number(v: Any) -> Any:
    return "inf" if isinstance(v, float) and math.isinf(v) else v


def _mark(flag: bool | None) -> str:
    return "?" if flag is None else ("✓" if flag else "✗")


def write_csv(result: RunResult, columns: list[MetricColumn], path: Path) -> None:
    keys = [c.key for c in columns if c.available]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "cases", *keys])
        for m in _ordered_rows(result):
            vals = [result.summary[m].get(k) for k in keys]
            w.writerow(
                [
                    m,
                    result.counts[m].get("cases", 0),
                    *("" if v is None else ("inf" if math.isinf(v) else repr(float(v))) for v in vals),
                ]
            )


# --------------------------------------------------------------------------------------------- figure
def _text_tile(text: str, size: int) -> np.ndarray:
    import textwrap

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    lines = textwrap.wrap(text, width=max(8, size // 7))[: size // 12]
    draw.multiline_text((4, 4), "\n".join(lines), fill="black", spacing=2)
    return np.asarray(img)


def comparison_figure(result: RunResult, path: Path, tile: int = TILE) -> Path | None:
    """input | text | one column per method | target, one row per case, with a header row."""
    if not result.figure:
        return None
    from PIL import Image, ImageDraw

    from tfgnet_desk.evaluate.methods import to_size

    methods = _ordered_rows(result)
    heads = ["input", "text", *methods, "target"]
    header = 18
    canvas = Image.new("RGB", (tile * len(heads), header + tile * len(result.figure)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, h in enumerate(heads):
        draw.text((j * tile + 3, 3), h[: tile // 6], fill="black")
    blank = np.full((tile, tile, 3), 200, np.uint8)
    for i, row in enumerate(result.figure):
        tiles = [to_size(row["lq"], (tile, tile)), _text_tile(row["text"], tile)]
        tiles += [to_size(row["outputs"][m], (tile, tile)) if m in row["outputs"] else blank for m in methods]
        tiles.append(to_size(row["target"], (tile, tile)))
        for j, t in enumerate(tiles):
            canvas.paste(Image.fromarray(t), (j * tile, header + i * tile))
    canvas.save(path)
    return path


def write_report(
    result: RunResult,
    columns: list[MetricColumn],
    out: Path,
    meta: dict[str, Any],
    ablations: list[str] | None = None,
    strengths: list[str] | None = None,
) -> dict[str, Path]:
    """Write every report file under ``out``; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out / "results.csv",
        "analyst_csv": out / "analyst.csv",
        "markdown": out / "results.md",
        "figure": out / "comparison.png",
        "run": out / "run.json",
        "skipped": out / "skipped.json",
    }
    write_csv(result, columns, paths["csv"])
    from tfgnet_desk.evaluate.report_analyst import candidates_per_method, write_analyst_csv

    write_analyst_csv(result, paths["analyst_csv"])
    paths["markdown"].write_text(markdown_report(result, columns, meta, ablations or [], strengths or []))
    comparison_figure(result, paths["figure"])
    paths["skipped"].write_text(
        json.dumps(
            {
                "skipped_cases": result.skipped_cases,
                "method_errors": result.method_errors,
                "unavailable_methods": result.unavailable,
            },
            indent=2,
        )
        + "\n"
    )
    run = {
        **meta,
        "columns": [c.to_dict() for c in columns],
        "methods": result.methods,
        "cases_listed": result.cases_total,
        "cases_start": result.cases_start,
        "cases_scored": len(result.per_case),
        "stopped_early": result.stopped_early,
        "summary": {m: {k: _json_number(v) for k, v in vals.items()} for m, vals in result.summary.items()},
        "counts": result.counts,
        "candidates": candidates_per_method(result),
        "evidence": result.evidence,
        "faceres": result.faceres,
        "flip": result.flip,
        "seconds_per_method": result.seconds,
        "cpu_seconds_per_method": result.cpu_seconds,
        "cases_per_time_key": result.case_counts,
    }
    paths["run"].write_text(json.dumps(run, indent=2, default=str) + "\n")
    return paths
