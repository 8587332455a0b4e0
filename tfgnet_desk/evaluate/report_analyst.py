"""The report's analyst sections (Markdown), ``analyst.csv`` and the per-case timing lines.

Tables: identity against the evidence with best-of-K and faceres; attribute, gender and age agreement
(with the ``target`` row: the probes on the photo the description was written from); the flip test;
the diversity of one run's candidates. Every faceres-based number is marked as a faceres figure
("faceres — possible training teacher"): a network that may teach the model never grades it silently.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from tfgnet_desk.data.caption_attributes import FLIP_ATTRIBUTES
from tfgnet_desk.evaluate.flip import FLIP_MARGIN
from tfgnet_desk.evaluate.metrics.analyst import (
    AGE_YOUNG_BELOW,
    ATTRIBUTE_ORDER,
    FACERES_TAG,
    PROBE_THRESHOLD,
    TARGET_ROW,
)
from tfgnet_desk.evaluate.runner import RunResult

REFERENCE = ("clean-source", "random-same-gender")


def _rows(result: RunResult) -> list[str]:
    mid = [m for m in result.methods if m not in REFERENCE]
    return (
        [m for m in REFERENCE[:1] if m in result.methods]
        + mid
        + [m for m in REFERENCE[1:] if m in result.methods]
    )


def candidates_per_method(result: RunResult) -> dict[str, int]:
    k: dict[str, int] = {}
    for rec in result.per_case:
        for m, n in (rec.get("candidates") or {}).items():
            k[m] = max(k.get(m, 0), int(n))
    return k


def _num(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def _best(rows: list[str], key: str, summary: dict, higher: bool = True) -> str | None:
    vals = [(summary.get(m, {}).get(key), m) for m in rows if m not in REFERENCE and m != TARGET_ROW]
    vals = [(v, m) for v, m in vals if v is not None]
    if len(vals) < 2:
        return None
    top = (max if higher else min)(v for v, _ in vals)
    winners = [m for v, m in vals if v == top]
    return winners[0] if len(winners) == 1 else None  # a tie is bold nowhere


def _table(heads: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(heads) + " |", "|---" * len(heads) + "|"] + [
        "| " + " | ".join(r) + " |" for r in body
    ]


def _name(m: str) -> str:
    if m == TARGET_ROW:
        return "*target (the described photo)*"
    return f"*{m}*" if m in REFERENCE else m


def identity_section(result: RunResult, encoders: list[str]) -> list[str]:
    s, c, rows, k = result.summary, result.counts, _rows(result), candidates_per_method(result)
    ev = result.evidence or {}
    src = ", ".join(f"{n} {v}" for v, n in sorted((v, n) for n, v in (ev.get("sources") or {}).items()))
    out = ["## For the analyst: identity against the evidence, best of K, faceres", ""]
    out.append(
        "The evidence is the face in `lq.png` (the input an analyst has). How its landmarks were found, "
        f"in {ev.get('cases', 0)} cases: {src or '-'} (meta-landmarks: `meta.json` landmarks68; "
        "framing-box: the benchmark's shared face box; detected: dlib's detector)."
    )
    for n, failed in sorted((ev.get("not_embedded") or {}).items()):
        more = f" ({', '.join(failed[:10])}{', ...' if len(failed) > 10 else ''})" if failed else ""
        out.append(f"- evidence not embedded by {n}: {len(failed)} cases{more}")
    heads = ["method", "K"]
    keys: list[tuple[str, bool]] = []
    for n in encoders:
        heads += [f"vs evidence ({n}, centred) % ↑", f"vs evidence ({n}, raw) % ↑", "cases"]
        heads += [f"vs target, best of K ({n}, centred) % ↑"]
        keys += [(f"face_ev_cal_{n}", True), (f"face_ev_sim_{n}", True), (f"face_ev_cal_{n}", False)]
        keys += [(f"face_cal_best_{n}", True)]
    fr = result.faceres or {}
    if fr.get("available"):
        cal = "centred" if fr.get("calibrated") else "raw: no calibration file"
        heads += [f"faceres vs target ({cal}) % ↑", f"faceres vs evidence ({cal}) % ↑", "cases"]
        keys += [("faceres_cal", True), ("faceres_ev_cal", True), ("faceres_ev_cal", False)]
    body = []
    for m in rows:
        cells = [_name(m), str(k.get(m, 1))]
        for key, value in keys:
            if not value:
                cells.append(str(c.get(m, {}).get(key, 0)))
                continue
            txt = _num(s.get(m, {}).get(key))
            cells.append(f"**{txt}**" if _best(rows, key, s) == m else txt)
        body.append(cells)
    out += [""] + _table(heads, body) + [""]
    out.append(
        "Means over each method's K candidates; best of K: the candidate closest to the target, per case. "
        "The dlib Face Sim against the target (tables above) stays the figure of record. bicubic *is* the "
        "evidence enlarged, so its identity to the evidence is a ceiling, not a result."
    )
    if fr.get("available"):
        out.append(f"faceres columns: {FACERES_TAG}.")
    else:
        out.append(f"faceres columns n/a: {fr.get('missing') or 'not loaded'}.")
    return out


def attribute_section(result: RunResult) -> list[str]:
    fr = result.faceres or {}
    out = [f"## Does the face show what the description says? ({FACERES_TAG})", ""]
    if not fr.get("available"):
        return out + [f"n/a: {fr.get('missing') or 'faceres not loaded'}."]
    s, c = result.summary, result.counts
    rows = [TARGET_ROW, *_rows(result)]
    attrs = [a for a in ATTRIBUTE_ORDER if any(c.get(m, {}).get(f"attr_{a}") for m in rows)]
    keys = [f"attr_{a}" for a in attrs] + ["attr_all", "attr_macro", "gender_agree", "age_agree"]
    heads = ["method", *attrs, "all (pooled)", "macro", "gender", "age"]
    body = []
    for m in rows:
        cells = [_name(m)]
        for key in keys:
            v, n = s.get(m, {}).get(key), c.get(m, {}).get(key, 0)
            n = c.get(m, {}).get("attr_all_judged", n) if key == "attr_all" else n
            txt = "-" if v is None else f"{v:.1f} ({n})"
            cells.append(f"**{txt}**" if _best(rows, key, s) == m and v is not None else txt)
        body.append(cells)
    out += _table(heads, body) + [""]
    out.append(
        "Share (%) of candidates agreeing with the description (in brackets: cases; for *all*, judgements; "
        "for *macro*, attributes). "
        f"A probe says present when its P >= {PROBE_THRESHOLD}; only attributes the description states count "
        "(`stated_attributes`: 'glasses' -> eyeglasses, 'a beard' / 'clean-shaven' -> beard, 'older' -> not "
        f"young, ...). Gender: faceres P(male) >= {PROBE_THRESHOLD} vs the class word. Age: faceres age "
        f"< {AGE_YOUNG_BELOW:g} years agrees with 'young', 'teenage', 'boy', 'girl'; >= {AGE_YOUNG_BELOW:g} "
        "with 'older', 'elderly', 'middle-aged'; descriptions with neither are not counted. *all* pools "
        "every (candidate, attribute) judgement; *macro* is the mean of the attribute columns. The *target* "
        "row is the probes on the photo the description was written from: their own agreement, the ceiling."
    )
    if not fr.get("probes"):
        out.append(f"Attribute columns n/a: {fr.get('probes_missing')}.")
    auc = fr.get("val_auc") or {}
    if auc:
        out.append("Probe validation AUC: " + ", ".join(f"{a} {v:.3f}" for a, v in auc.items()) + ".")
    return out


def flip_section(result: RunResult) -> list[str]:
    info = result.flip or {}
    out = [f"## Flip test: stating an attribute vs leaving it out ({FACERES_TAG})", ""]
    rows = [m for m in info.get("methods", []) if m in result.summary and "flip_all" in result.summary[m]]
    if not rows:
        why = result.faceres.get("probes_missing") or "no tfgnet / text-only rows, or --flip-cases 0"
        return out + [f"Not run: {why}."]
    s, c = result.summary, result.counts
    asked = info.get("cases_requested")
    out.append(
        f"Run on {info.get('cases_run', 0)} cases (`--flip-cases` {'all' if asked is None else asked}), "
        "same seed, strength, steps and evidence for both texts (`with_attribute`: 'wearing glasses', "
        "'with a beard' (male class words only), 'smiling'). **Success**: the attribute's probe moves "
        f"the stated way by at least {100 * FLIP_MARGIN:.0f} points, P(added) - P(removed) >= "
        f"{FLIP_MARGIN:.2f}; *moved at all*: the bare sign, which credits noise-level moves; *decision*: "
        "P(added) >= 0.5 > P(removed); shift: mean P(added) - P(removed), percentage points."
    )
    heads = ["method", "attribute", "pairs", "success %", "moved at all %", "decision %", "mean shift"]
    body = []
    for m in rows:
        for a in [*FLIP_ATTRIBUTES, "all"]:
            n = c[m].get(f"flip_{a}", 0)
            if not n:
                continue
            body.append(
                [
                    m,
                    a,
                    str(n),
                    _num(s[m].get(f"flip_{a}"), 1),
                    _num(s[m].get(f"flip_sign_{a}"), 1),
                    _num(s[m].get(f"flip_decision_{a}"), 1),
                    "-" if s[m].get(f"flip_shift_{a}") is None else f"{s[m][f'flip_shift_{a}']:+.2f}",
                ]
            )
    return out + [""] + _table(heads, body)


def diversity_section(result: RunResult, encoders: list[str]) -> list[str]:
    s, c, k = result.summary, result.counts, candidates_per_method(result)
    out = ["## Diversity of one run's candidates", ""]
    heads = ["method", "K"] + [f"identity distance ({n}, 1 - centred cosine)" for n in encoders]
    heads += ["pixel difference (mean absolute, of 255)", "cases"]
    body = []
    for m in _rows(result):
        if k.get(m, 1) < 2:
            body.append([_name(m), str(k.get(m, 1))] + ["n/a"] * (len(encoders) + 1) + ["-"])
            continue
        vals = [_num(s[m].get(f"div_id_{n}"), 3) for n in encoders] + [_num(s[m].get("div_px"))]
        body.append([_name(m), str(k[m]), *vals, str(c[m].get("div_px", 0))])
    out += _table(heads, body) + [""]
    out.append(
        "Mean over the pairs of candidates of one case, then over cases; n/a for rows with one output."
    )
    return out


def sharpness_section(result: RunResult) -> list[str]:
    s, c = result.summary, result.counts
    rows = [m for m in _rows(result) if s.get(m, {}).get("sharp_face") is not None]
    out = ["## Sharpness of the face region", ""]
    if not rows:
        return out + ["No outputs scored."]
    body = [[_name(m), _num(s[m]["sharp_face"]), str(c[m].get("sharp_face", 0))] for m in rows]
    out += _table(["method", "sharpness (Laplacian RMS, of 255)", "cases"], body) + [""]
    out.append(
        "RMS of the 3x3 Laplacian of the grey image at 128 px inside the crop frame's face ellipse, mean "
        "over a method's outputs, then over cases. Blur lowers it; noise, JPEG blocks and invented texture "
        "raise it too, so read it beside the identity columns, and against the clean source."
    )
    return out


def markdown_sections(result: RunResult, encoders: list[str]) -> list[str]:
    parts: list[str] = []
    for sec in (
        identity_section(result, encoders),
        attribute_section(result),
        flip_section(result),
        diversity_section(result, encoders),
        sharpness_section(result),
    ):
        parts += ["", *sec]
    return parts


def csv_keys(result: RunResult) -> list[str]:
    """Every analyst and flip key some row has, in the report's order."""
    present = {k for vals in result.summary.values() for k in vals}
    order = [
        "face_ev_cal_",
        "face_ev_sim_",
        "face_cal_best_",
        "faceres_cal",
        "faceres_ev_cal",
        *(f"attr_{a}" for a in ATTRIBUTE_ORDER),
        "attr_all",
        "attr_macro",
        "gender_agree",
        "age_agree",
        "div_id_",
        "div_px",
        "sharp_face",
        *(f"flip_{a}" for a in [*FLIP_ATTRIBUTES, "all"]),
        *(f"flip_sign_{a}" for a in [*FLIP_ATTRIBUTES, "all"]),
        *(f"flip_decision_{a}" for a in [*FLIP_ATTRIBUTES, "all"]),
        *(f"flip_shift_{a}" for a in [*FLIP_ATTRIBUTES, "all"]),
    ]
    keys: list[str] = []
    for o in order:
        keys += sorted(
            k for k in present if (k == o or (o.endswith("_") and k.startswith(o))) and k not in keys
        )
    return keys


def write_analyst_csv(result: RunResult, path: Path) -> None:
    """One row per method (and the ``target`` row): value and count (``n_<key>``) of every analyst key."""
    keys = csv_keys(result)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "candidates", *(x for k in keys for x in (k, f"n_{k}"))])
        k = candidates_per_method(result)
        for m in [TARGET_ROW, *_rows(result)]:
            s, c = result.summary.get(m, {}), result.counts.get(m, {})
            cells = []
            for key in keys:
                v = s.get(key)
                n = c.get("attr_all_judged", c.get(key, 0)) if key == "attr_all" else c.get(key, 0)
                cells += ["" if v is None else repr(float(v)), n if v is not None else 0]
            w.writerow([m, k.get(m, 1) if m != TARGET_ROW else 1, *cells])


def timing_lines(result: RunResult) -> list[str]:
    """Seconds per case for every method, the flip test (per case that ran it), metrics and faceres."""
    n_cases = max(1, len(result.per_case))
    lines = []
    total = 0.0
    for key in [
        *result.methods,
        *sorted(k for k in result.seconds if k.startswith("flip:")),
        "metrics",
        "faceres",
    ]:
        if key not in result.seconds:
            continue
        n = result.counts.get(key, {}).get("cases") or result.case_counts.get(key) or n_cases
        wall, cpu = result.seconds[key], result.cpu_seconds.get(key, 0.0)
        total += wall
        lines.append(
            f"{key}: {wall / max(1, n):.3f} s wall, {cpu / max(1, n):.3f} s CPU per case ({n} cases)"
        )
    lines.append(
        f"all of the above: {total / n_cases:.3f} s wall per scored case ({len(result.per_case)} cases)"
    )
    return lines
