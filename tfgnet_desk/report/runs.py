"""The report's run sections and its appendix of parameters and library versions.

A run with candidates gets a section: status, description, the evidence beside the run's reference
photo (when it had one), a short table (evidence used, seeds, profile and device, model hash, the
restored face's score vs the evidence), the candidate grid (each image stamped SYNTHETIC, numbered as in
the window: ``candidate_label``) and the output hashes. A run without candidates (cancelled before the
first one was finished, failed, interrupted) folds to one line. Every run's parameters, library versions
and the rest of its provenance go to one compact appendix table, a column per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfgnet_desk.hashing import image_hash_name
from tfgnet_desk.report.fmt import (
    OLD_SCORES_NOTE,
    REFERENCE_LABEL,
    REFERENCE_NOTE,
    SCORES_NOTE,
    esc,
    format_scores,
    kv_table,
    param_value,
    restored_face_scores,
    when,
)
from tfgnet_desk.report.images import EvidencePicture
from tfgnet_desk.score_labels import OLD_RESTORED, RESTORED_FACE, candidate_label

FOLD_WIDTH_PT = 470.0  # a folded run's line fits this width (the page's text is 180 mm, 510 pt, wide)
APPENDIX_COLUMNS = 3  # runs per appendix table
RESTORED_FILES = "Restored face files (model output)"


def restored_face_files(provenance: dict[str, Any]) -> str:
    """The run's stored restored faces (``cases/restored.py``: provenance ``restored_faces``), one line
    each: the content-addressed file and the SHA-256 of its pixels; '' when the run kept none."""
    entries = provenance.get("restored_faces")
    if not isinstance(entries, list):
        return ""
    return "\n".join(
        f"{e.get('file', '?')} (pixels {e.get('pixel_sha256', '?')})" for e in entries if isinstance(e, dict)
    )


def folded_run_line(r: dict[str, Any], n: int, status: str) -> str:
    """One line for a run without candidates: number, status, start time and as much of the description
    as fits on the line (measured in the report's font; the whole description is in the appendix)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFont, QFontMetricsF, QImage

    from tfgnet_desk.report.pdf import ensure_gui_app

    ensure_gui_app()
    head = f"Run {n}: {status}, {when(r['started_at'])[:16]} UTC, "
    tail = " (details: appendix)"
    points = QImage(1, 1, QImage.Format.Format_RGB32)  # a 72 dpi device: its pixels are points
    points.setDotsPerMeterX(round(72 / 0.0254))
    points.setDotsPerMeterY(round(72 / 0.0254))
    font = QFont("DejaVu Sans")
    font.setPointSizeF(9)
    bold = QFont(font)
    bold.setBold(True)
    fm = QFontMetricsF(font, points)
    used = QFontMetricsF(bold, points).horizontalAdvance(head) + fm.horizontalAdvance(tail + '""')
    prompt = " ".join(str(r["prompt"] or "").split())
    prompt = fm.elidedText(prompt, Qt.TextElideMode.ElideRight, max(0.0, FOLD_WIDTH_PT - used))
    return (
        f'<p class="folded"><b>Run {n}</b>: {esc(status)}, {esc(when(r["started_at"])[:16])} UTC, '
        f'"{esc(prompt)}"{esc(tail)}</p>'
    )


def run_section(
    store: Any,
    r: dict[str, Any],
    n: int,
    ev_names: dict[int, str],
    pictures: dict[int, EvidencePicture],
    candidate_url: Callable[[dict[str, Any]], str],
    cols: int = 4,
) -> str:
    """The HTML of run number ``n`` (1-based, in the order the runs were started, as in the window)."""
    from tfgnet_desk.cases.rows import run_status_text

    cands = store.candidates.of_run(r["id"])
    status = run_status_text(r, len(cands))
    if not cands:
        return folded_run_line(r, n, status)
    h = [f"<h2>Run {n}: {esc(status)}, {esc(when(r['started_at']))} UTC</h2>"]
    if r["status"] != "done":
        h.append(f'<p class="warn">Run status: {esc(status)}.</p>')
    h.append(f'<p><b>Description (prompt):</b> "{esc(r["prompt"])}"</p>')
    ref_id = r.get("reference_id")
    if ref_id is not None:
        h.append(reference_block(r, ev_names, pictures))
    rows: list[tuple[str, Any]] = [
        ("Run uid", r["uid"]),
        ("Evidence used", ", ".join(f"{i}: {ev_names.get(i, '?')}" for i in r["evidence_ids"]) or "-"),
    ]
    if ref_id is not None:
        rows.append(("Reference photo", f"{ref_id}: {ev_names.get(ref_id, '?')} ({REFERENCE_LABEL})"))
    rows += [
        ("Seeds (per candidate)", ", ".join(str(k["seed"]) for k in cands)),
        ("Profile / device", f"{r['profile']} / {r['device']}"),
        ("Model manifest hash", r["model_hash"] or "not recorded"),
        ("Finished", r["finished_at"] or "-"),
    ]
    if r.get("error"):
        rows.append(("Error", r["error"]))
    restored = restored_face_scores(r["provenance"])
    if restored is not None:
        rows.append((RESTORED_FACE.capitalize(), restored))
    files = restored_face_files(r["provenance"])
    if files:
        rows.append((RESTORED_FILES, files))
    rows.append(("Parameters, library versions", f"appendix, column 'Run {n}'"))
    h.append(kv_table(rows, mono_keys=("Run uid", "Model manifest hash", RESTORED_FILES)))
    # One table per grid row, so that the PDF writer can keep each row (images and captions) on one
    # page; the heading rides in the first row's table so it never ends a page on its own.
    title = f"Candidates ({len(cands)}), each a synthetic composite"
    for row_start in range(0, len(cands), cols):
        h.append('<table cellspacing="0" cellpadding="3" width="100%">')
        if row_start == 0:
            h.append(f'<tr><td colspan="{cols}"><h3>{esc(title)}</h3></td></tr>')
        h.append("<tr>")
        row = cands[row_start : row_start + cols]
        for k in row:
            mark = '<br><span class="picked">PICKED</span>' if k["picked"] else ""
            h.append(
                f'<td width="{100 // cols}%" align="center">'
                f'<img src="{candidate_url(k)}" width="120"><br>'
                f'<span class="small"><b>SYNTHETIC</b> {candidate_label(k["idx"])} seed {k["seed"]}<br>'
                f"{format_scores(k['scores'])}{mark}</span></td>"
            )
        h.append(f'<td width="{100 // cols}%"></td>' * (cols - len(row)))
        h.append("</tr></table>")
    old = any(OLD_RESTORED in (k["scores"] or {}) for k in cands)
    h.append(f'<p class="small">{esc(OLD_SCORES_NOTE if old else SCORES_NOTE)}</p>')
    h.append(
        '<h3>Output hashes</h3><table border="1" cellspacing="0" cellpadding="2" width="100%">'
        "<tr><th>#</th><th>seed</th><th>file SHA-256 / pixel SHA-256</th></tr>"
    )
    for k in cands:
        h.append(
            f"<tr><td>{candidate_label(k['idx'])}</td><td>{k['seed']}</td>"
            f'<td class="mono">{esc(k["sha256"])}<br>'
            f"{esc(k['pixel_sha256'] or '-')}</td></tr>"
        )
    h.append("</table>")
    return "".join(h)


def reference_block(r: dict[str, Any], ev_names: dict[int, str], pictures: dict[int, EvidencePicture]) -> str:
    """The run's evidence next to its reference photo (pictures registered by the evidence section)."""
    cells = []
    for i in r["evidence_ids"]:
        if i in pictures:
            w, h = pictures[i].fit(150)
            cells.append(
                f'<td align="center"><img src="img://evidence/{i}" width="{w}" height="{h}"><br>'
                f'<span class="small">evidence {i}: {esc(ev_names.get(i, "?"))}</span></td>'
            )
    ref = r["reference_id"]
    pic = ""
    if ref in pictures:
        w, h = pictures[ref].fit(150)
        pic = f'<img src="img://evidence/{ref}" width="{w}" height="{h}"><br>'
    cells.append(
        f'<td align="center">{pic}<span class="small"><b>{esc(REFERENCE_LABEL)}</b><br>'
        f"evidence {ref}: {esc(ev_names.get(ref, '?'))}</span></td>"
    )
    return (
        '<table cellspacing="0" cellpadding="4"><tr>'
        + "".join(cells)
        + f'</tr><tr><td colspan="{len(cells)}" class="small">{esc(REFERENCE_NOTE)}</td></tr></table>'
    )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted names (``model.folder``), so that the appendix shows values, not JSON."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _extras(r: dict[str, Any]) -> dict[str, Any]:
    """Provenance the other rows do not already show (nested entries by dotted name)."""
    prov = r["provenance"]
    shown = {
        "prompt": r["prompt"],
        "model_hash": r["model_hash"],
        "model.manifest_hash": r["model_hash"],
        "profile": r["profile"],
        "model.profile": r["profile"],
        "device": r["device"],
    }
    for group, alias, values in (
        ("parameters", "request", r["parameters"]),
        ("library_versions", "libraries", r["library_versions"]),
    ):
        shown |= {f"{name}.{k}": v for name in (group, alias) for k, v in _flat(values or {}).items()}
    out = dict(prov)
    if restored_face_scores(prov) is not None:
        out.pop("restored_scores", None)  # shown readably in the run's section
    if restored_face_files(prov):
        out.pop("restored_faces", None)  # likewise
    out = {k: v for k, v in _flat(out).items() if not (k in shown and shown[k] == v)}
    if "outputs" in prov:  # which image hash its output hashes are (an old run's differ from the table's)
        out["image_hash"] = image_hash_name(prov)
    return out


def appendix(runs: list[dict[str, Any]]) -> str:
    """Parameters, library versions and the rest of the provenance of every run: a row per name, a column
    per run (``APPENDIX_COLUMNS`` runs per table)."""
    h = ['<h2 style="page-break-before: always;">Appendix: parameters and library versions</h2>']
    if not runs:
        return "".join(h) + "<p>No generation runs recorded.</p>"
    h.append(
        '<p class="small">Every value the runs recorded, a column per run (runs numbered as in the '
        "report and the window); each table is followed by its runs' uids and model hashes.</p>"
    )
    numbered = list(enumerate(runs, start=1))
    for start in range(0, len(numbered), APPENDIX_COLUMNS):
        chunk = numbered[start : start + APPENDIX_COLUMNS]
        fixed: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
            ("status", lambda r: r["status"] + (f" ({r['error']})" if r.get("error") else "")),
            ("started (UTC)", lambda r: when(r["started_at"])),
            ("description", lambda r: r["prompt"]),
            ("evidence used", lambda r: ", ".join(str(i) for i in r["evidence_ids"]) or "-"),
            ("profile / device", lambda r: f"{r['profile']} / {r['device']}"),
        ]
        rows = [(name, [get(r) for _, r in chunk]) for name, get in fixed]
        for section, source in (
            ("parameter", lambda r: r["parameters"]),
            ("library", lambda r: r["library_versions"]),
            ("provenance", _extras),
        ):
            keys = sorted({k for _, r in chunk for k in source(r)})
            rows += [
                (f"{section}: {k}", [param_value(source(r)[k]) if k in source(r) else "-" for _, r in chunk])
                for k in keys
            ]
        width = 72 // len(chunk)
        h.append(
            '<table border="1" cellspacing="0" cellpadding="2" width="100%"><tr><th width="28%"></th>'
            + "".join(f'<th width="{width}%">Run {n}</th>' for n, _ in chunk)
            + "</tr>"
        )
        for name, values in rows:
            h.append(
                f'<tr><td class="small">{esc(name)}</td>'
                + "".join(f'<td class="small">{esc(v)}</td>' for v in values)
                + "</tr>"
            )
        h.append("</table>")
        for n, r in chunk:  # long hashes do not fit a column: one line per run below its table
            h.append(
                f'<p class="mono">Run {n}: uid {esc(r["uid"])}, model manifest hash '
                f"{esc(r['model_hash'] or 'not recorded')}</p>"
            )
    return "".join(h)
