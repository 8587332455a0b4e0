"""The case report's content: HTML for ``QTextDocument`` plus the pictures it refers to.

Page 1 is a summary, on one page for a typical case: the case (title, reference, analyst, status), the
evidence as thumbnails, the description(s) used, the runs in one line, the picked candidates with their
scores and the analyst's notes, the case notes and conclusions, and the two statements (investigative
leads, not identifications; demographic bias). From page 2 the details: the evidence at its own pixels
(lossless, enlarged only by pixel repetition, with what was done stated beside it; the face box on a
separate annotated copy; hash, size, path, note, removal), each run (``report/runs.py``:
status, description, reference photo, seeds, model hash, the restored face's score, the candidate grid
with scores and output hashes; a run without candidates folds to one line), the enhancements of the
evidence by a third-party model the analyst looked at (``report/enhancements.py``), the audit trail with the
chain head and the verification result at the time of writing, and an appendix table of every run's
parameters, library versions and other provenance. Candidates are numbered as in the window
(``candidate_label``: "#1" is the first), runs as in the window's history ("Run 1" is the first started).
All user text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtGui import QImage

from tfgnet_desk.report.fmt import (
    ANNOTATED_LABEL,
    BIAS_STATEMENT,
    CSS,
    EVIDENCE_NOTE,
    LEADS_STATEMENT,
    OLD_SCORES_NOTE,
    REFERENCE_LABEL,
    SCORES_NOTE,
    esc,
    esc_lines,
    format_scores,
    kv_table,
    param_value,
    short_hashes,
)
from tfgnet_desk.report.images import EvidencePicture, annotated_copy, evidence_picture, stamp_synthetic
from tfgnet_desk.report.runs import appendix, run_section
from tfgnet_desk.score_labels import candidate_label

__all__ = [
    "BIAS_STATEMENT",
    "LEADS_STATEMENT",
    "OLD_SCORES_NOTE",
    "REFERENCE_LABEL",
    "SCORES_NOTE",
    "ReportContent",
    "build_content",
    "esc",
    "picked_label",
]

EVIDENCE_SLOT = 300  # longest side of an evidence picture in the details, in document pixels (1/96 in)
THUMB = 96  # longest side of a thumbnail on the summary page
DETAILS_BREAK = '<h2 style="page-break-before: always;">'


@dataclass
class ReportContent:
    html: str
    images: dict[str, QImage] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)
    evidence: dict[int, EvidencePicture] = field(default_factory=dict)


def picked_label(run_number: int, index: int) -> str:
    """'Run 1, candidate #3': a candidate as the summary names it (numbered as in the window)."""
    return f"Run {run_number}, candidate {candidate_label(index)}"


class _Builder:
    """Collects the pictures while the sections are written (each picture is made once)."""

    def __init__(self, store: Any, case_id: int) -> None:
        self.store, self.case_id = store, case_id
        self.images: dict[str, QImage] = {}
        self.pictures: dict[int, EvidencePicture] = {}
        self.evidence = store.evidence.of_case(case_id)
        self.runs = store.runs.of_case(case_id)
        self.run_no = {r["id"]: n for n, r in enumerate(self.runs, start=1)}
        self.ev_names = {e["id"]: e["original_name"] for e in self.evidence}
        for e in self.evidence:
            pic = evidence_picture(self.store.evidence.load_image(e["id"]), EVIDENCE_SLOT)
            self.pictures[e["id"]] = pic
            self.images[f"img://evidence/{e['id']}"] = pic.image
            if e["face_box"]:
                self.images[f"img://evidence-box/{e['id']}"] = annotated_copy(pic, e["face_box"])

    def candidate_url(self, cand: dict[str, Any]) -> str:
        url = f"img://candidate/{cand['id']}"
        if url not in self.images:
            from tfgnet_desk.imaging import load_image

            self.images[url] = stamp_synthetic(load_image(self.store.home / cand["file"]), 256)
        return url

    def img(self, evidence_id: int, longest: int, box: bool = False) -> str:
        w, h = self.pictures[evidence_id].fit(longest)
        kind = "evidence-box" if box else "evidence"
        return f'<img src="img://{kind}/{evidence_id}" width="{w}" height="{h}">'


def build_content(store: Any, case_id: int, generated_at: str, grid_columns: int = 4) -> ReportContent:
    """Everything the report shows, as HTML with named image resources (``img://...``)."""
    case = store.get_case(case_id)
    b = _Builder(store, case_id)
    h: list[str] = [f"<style>{CSS}</style>", "<body>"]
    h.append(_summary(b, case, generated_at))
    h.append(f"{DETAILS_BREAK}Evidence in detail</h2>")
    if not b.evidence:
        h.append("<p>No evidence imported.</p>")
    for e in b.evidence:
        h.append(_evidence_detail(b, e))
    h.append(f'<p class="small">{esc(EVIDENCE_NOTE)}</p>')
    for r in b.runs:
        h.append(
            run_section(store, r, b.run_no[r["id"]], b.ev_names, b.pictures, b.candidate_url, grid_columns)
        )
    if not b.runs:
        h.append("<h2>Runs</h2><p>No generation runs recorded.</p>")
    h.append(_enhancements(b))
    h.append(_audit_section(store, case_id))
    h.append(appendix(b.runs))
    h.append("</body>")
    return ReportContent("".join(h), b.images, case, b.pictures)


def _summary(b: _Builder, case: dict[str, Any], generated_at: str) -> str:
    """Page 1: what an analyst, a reviewer or a court reads first."""
    from tfgnet_desk import __version__

    store = b.store
    h = [f"<h1>Case report: {esc(case['title'])}</h1>"]
    h.append(
        '<table border="1" cellspacing="0" cellpadding="2" width="100%">'
        f'<tr><th width="16%">Case</th><td width="34%" class="mono">'
        f"{case['id']} (uid {esc(case['uid'])})</td>"
        f'<th width="16%">Reference</th><td width="34%">{esc(case["reference"] or "-")}</td></tr>'
        f"<tr><th>Analyst</th><td>{esc(case['analyst'] or '-')}</td>"
        f"<th>Status</th><td>{esc(case['status'])}</td></tr>"
        f"<tr><th>Opened</th><td>{esc(case['created_at'])}</td>"
        f"<th>Last change</th><td>{esc(case['updated_at'])}</td></tr>"
        f'<tr><th>Report</th><td colspan="3">generated {esc(generated_at)} by {esc(store.actor)} with '
        f"tfgnet-desk {esc(__version__)}, {esc(_qt())}</td></tr></table>"
    )
    h.append(f"<h3>Evidence ({len(b.evidence)})</h3>")
    if not b.evidence:
        h.append("<p>No evidence imported.</p>")
    for start in range(0, len(b.evidence), 4):
        cells = []
        for e in b.evidence[start : start + 4]:
            what = REFERENCE_LABEL if e.get("kind") == "reference" else "evidence"
            removed = '<br><span class="warn">removed from the case</span>' if e.get("excluded_at") else ""
            cells.append(
                f'<td align="center" width="25%">{b.img(e["id"], THUMB)}<br><span class="small">'
                f"{e['id']}: {esc(e['original_name'])}<br>{what}, {e['width']} x {e['height']} px"
                f"{removed}</span></td>"
            )
        cells += ['<td width="25%"></td>'] * (4 - len(cells))
        h.append(
            '<table cellspacing="0" cellpadding="3" width="100%"><tr>' + "".join(cells) + "</tr></table>"
        )

    h.append("<h3>Description used</h3>")
    prompts: dict[str, list[int]] = {}
    for r in b.runs:
        prompts.setdefault(str(r["prompt"]), []).append(b.run_no[r["id"]])
    if not prompts:
        h.append("<p>No generation runs recorded.</p>")
    for prompt, numbers in prompts.items():
        which = "run" if len(numbers) == 1 else "runs"
        h.append(
            f'<p>"{esc(prompt)}" <span class="small">({which} {", ".join(map(str, numbers))})</span></p>'
        )
    h.append(f"<p>{esc(_runs_line(store, b.runs))}</p>")

    picked = store.candidates.picked(b.case_id)
    h.append(f"<h3>Picked candidates ({len(picked)})</h3>")
    if not picked:
        h.append("<p>No candidate was picked.</p>")
    else:
        h.append('<table cellspacing="0" cellpadding="3" width="100%">')
        for k in picked:
            label = picked_label(b.run_no.get(k["run_id"], 0), k["idx"])
            h.append(
                f'<tr><td width="{THUMB + 8}"><img src="{b.candidate_url(k)}" width="{THUMB}"></td>'
                f"<td><b>{esc(label)}</b> (SYNTHETIC composite, seed {k['seed']})<br>"
                f'<span class="small">{format_scores(k["scores"])}</span><br>'
                f"<b>Analyst's note:</b> {esc_lines(k['note']) or '-'}</td></tr>"
            )
        h.append("</table>")

    h.append("<h3>Case notes and conclusions</h3>")
    h.append(f"<p>{esc_lines(case['notes']) or 'None recorded.'}</p>")
    h.append(
        f'<p class="statement"><b>Investigative leads, not identifications.</b> {esc(LEADS_STATEMENT)}<br>'
        f"<b>Demographic bias.</b> {esc(BIAS_STATEMENT)}</p>"
    )
    return "".join(h)


def _runs_line(store: Any, runs: list[dict[str, Any]]) -> str:
    """'Runs: 2 (1 done, 1 cancelled); 7 candidates, 1 picked; details from page 2.'"""
    if not runs:
        return "Runs: none."
    statuses: dict[str, int] = {}
    n_cands = n_picked = 0
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        cands = store.candidates.of_run(r["id"])
        n_cands += len(cands)
        n_picked += sum(1 for k in cands if k["picked"])
    parts = ", ".join(f"{v} {k}" for k, v in statuses.items())
    return f"Runs: {len(runs)} ({parts}); {n_cands} candidates, {n_picked} picked; details from page 2."


def _evidence_detail(b: _Builder, e: dict[str, Any]) -> str:
    """One evidence item: the picture at its own pixels and what was done to it, the annotated copy with
    the face box beside it, then its record."""
    pic = b.pictures[e["id"]]
    is_ref = e.get("kind") == "reference"
    name = f"{'Reference photo' if is_ref else 'Evidence'} {e['id']}: {e['original_name']}"
    if is_ref:
        name += f" ({REFERENCE_LABEL})"
    box = ", ".join(str(v) for v in e["face_box"]) if e["face_box"] else "none recorded"
    cells = [
        f'<td align="center">{b.img(e["id"], EVIDENCE_SLOT)}<br><span class="small"><b>{esc(name)}</b><br>'
        f"{esc(pic.note)}</span></td>"
    ]
    if e["face_box"]:
        cells.append(
            f'<td align="center">{b.img(e["id"], EVIDENCE_SLOT, box=True)}<br><span class="small">'
            f"<b>{esc(ANNOTATED_LABEL)}</b> (x0, y0, x1, y1) = {esc(box)}</span></td>"
        )
    rows: list[tuple[str, Any]] = [
        ("Size", f"{e['size']} bytes, {e['width']} x {e['height']} pixels"),
        ("Face box (x0, y0, x1, y1)", box),
        ("SHA-256", e["sha256"]),
        ("Original path", e["original_path"]),
        ("Imported", e["imported_at"]),
    ]
    if e.get("excluded_at"):
        rows.append(
            ("Removed from the case", f"{e['excluded_at']} ({e.get('excluded_reason') or 'no reason'})")
        )
    rows.append(("Note", e["note"] or "-"))
    return (
        '<table cellspacing="0" cellpadding="4"><tr>'
        + "".join(cells)
        + "</tr></table>"
        + kv_table(rows, mono_keys=("SHA-256",))
    )


def _enhancements(b: _Builder) -> str:
    """Enhancements of the evidence by third-party models shown in the window (``report/enhancements.py``)."""
    from tfgnet_desk.report.enhancements import enhancement_section
    from tfgnet_desk.report.images import to_qimage

    def add(url: str, image) -> None:
        b.images[url] = to_qimage(image)

    numbers = {r["uid"]: b.run_no[r["id"]] for r in b.runs}
    names = {e["sha256"]: e["original_name"] for e in b.evidence}
    return enhancement_section(b.store, b.case_id, numbers, names, add)


def _qt() -> str:
    import PySide6
    from PySide6.QtCore import qVersion

    return f"PySide6 {PySide6.__version__} (Qt {qVersion()})"


def _audit_section(store: Any, case_id: int) -> str:
    h = ["<h2>Audit trail</h2>"]
    rep = store.verify(case_id)
    status = "intact" if rep.ok else "FAILED"
    cls = "" if rep.ok else ' class="warn"'
    h.append(f"<p{cls}>Verification at the time of writing: {esc(status)} ({esc(rep.summary())}).</p>")
    for p in rep.problems:
        h.append(f'<p class="warn">{esc(p)}</p>')
    h.append(
        '<table border="1" cellspacing="0" cellpadding="2" width="100%"><tr><th>#</th><th>time (UTC)</th>'
        "<th>actor</th><th>action</th><th>object and details</th><th>entry hash</th></tr>"
    )
    for e in store.audit_trail(case_id):
        obj = short_hashes(e.object)
        details = ", ".join(f"{k}={param_value(v)}" for k, v in sorted(e.details.items()) if k != "state")
        details = short_hashes(details)
        details = details if len(details) <= 90 else details[:87] + "..."
        h.append(
            f'<tr><td>{e.seq}</td><td class="small">{esc(e.at[:19].replace("T", " "))}</td>'
            f'<td class="small">{esc(e.actor)}</td><td class="small">{esc(e.action)}</td>'
            f'<td><span class="mono">{esc(obj)}</span><br><span class="small">{esc(details)}</span></td>'
            f'<td class="mono">{esc(e.hash[:16])}</td></tr>'
        )
    h.append("</table>")
    seq, head = store.audit_head(case_id)
    h.append(f'<p>Audit chain head: entry {seq}, hash <span class="mono">{esc(head)}</span></p>')
    return "".join(h)
