"""The report's section on enhancements of the evidence by third-party models (``cases/enhancements.py``).

When the analyst looked at the evidence's face upscaled by Real-ESRGAN x4plus in the compare view, the
report says so, after the runs: one block per recorded showing, under a heading that names it an
enhancement by a third-party model, not a candidate and not evidence. Each block shows the stored image
(when its file is intact; it is in no candidate grid and carries no score) and its provenance: the model,
the package and its version, the sha256 of the weights and of the graph, the licence, the evidence it was
made from (name and file hash) and the face box, how the input was made, the input's and output's image
hashes, the stored file, the run on screen beside it, when and by whom. Cases without any have no section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfgnet_desk.cases.enhancements import Enhancement, list_enhancements, load_enhancement_image
from tfgnet_desk.report.fmt import esc, kv_table

HEADING = "Enhancement of the evidence by a third-party model (not a candidate, not evidence)"
INTRO = (
    "The analyst looked at the evidence's face enlarged by an upscaling model from another project, to see "
    "what the usual tool would have shown. The image below is that model's output: it was not made by "
    "tfgnet-desk's model, it is not a candidate (never scored, never picked) and it is not evidence; the "
    "evidence is the unaltered file named in each block."
)
PICTURE = 192  # longest side of the picture, in document pixels
MONO = ("Weights SHA-256", "Graph SHA-256", "Evidence SHA-256", "Input image hash", "Output image hash")


def enhancement_section(
    store: Any,
    case_id: int,
    run_numbers: dict[str, int],
    evidence_names: dict[str, str],
    add_image: Callable[[str, np.ndarray], None],
) -> str:
    """The section's HTML ('' when the case recorded no enhancement). ``run_numbers``: run uid -> number
    as in the window; ``evidence_names``: evidence sha256 -> file name; ``add_image(url, rgb)`` registers
    a picture for the document."""
    records = list_enhancements(store, case_id)
    if not records:
        return ""
    h = [f"<h2>{esc(HEADING)}</h2>", f"<p>{esc(INTRO)}</p>"]
    for rec in records:
        h.append(_block(store, rec, run_numbers, evidence_names, add_image))
    return "".join(h)


def _block(
    store: Any,
    rec: Enhancement,
    run_numbers: dict[str, int],
    evidence_names: dict[str, str],
    add_image: Callable[[str, np.ndarray], None],
) -> str:
    d = rec.details
    model = f"{d.get('model', '?')} ({d.get('package', '?')} {d.get('package_version', '?')})"
    run_uid = d.get("run")
    run = f"Run {run_numbers[run_uid]}" if run_uid in run_numbers else (run_uid or "no run on screen")
    ev_sha = str(d.get("evidence_sha256", ""))
    box = d.get("face_box")
    rows: list[tuple[str, Any]] = [
        ("What it is", "Enhancement of the evidence by a third-party model: not a candidate, not evidence"),
        ("Model", model),
        ("Weights", d.get("weights_file", "")),
        ("Weights SHA-256", d.get("weights_sha256", "")),
        ("Graph SHA-256", d.get("param_sha256", "")),
        ("Licence", d.get("licence", "")),
        ("Evidence", evidence_names.get(ev_sha, "-")),
        ("Evidence SHA-256", ev_sha),
        ("Face box (x0, y0, x1, y1)", ", ".join(str(v) for v in box) if box else "none (centred square)"),
        ("Input", str(d.get("input", "")).removeprefix("Input: ")),  # the note reads "Input: ..."
        ("Input image hash", d.get("input_pixel_sha256", "")),
        ("Output image hash", d.get("output_pixel_sha256", "")),
        ("Stored file", d.get("output_file", "")),
        ("Image hash", d.get("image_hash", "")),
        ("Shown beside", run),
        ("Shown", f"{rec.at[:19].replace('T', ' ')} UTC by {rec.actor} (audit entry {rec.seq})"),
    ]
    image = load_enhancement_image(store.home, rec)
    if image is None:
        picture = '<p class="small">The stored image is missing or changed; its provenance follows.</p>'
    else:
        url = f"img://enhancement/{rec.seq}"
        add_image(url, image)
        hh, ww = image.shape[:2]
        s = min(1.0, PICTURE / max(hh, ww))
        picture = (
            f'<table cellspacing="0" cellpadding="4"><tr><td align="center"><img src="{url}" '
            f'width="{max(1, round(ww * s))}" height="{max(1, round(hh * s))}"><br><span class="small"><b>'
            f"Third-party enhancement ({esc(model)}), not a candidate, not evidence</b>; {ww} x {hh} px"
            "</span></td></tr></table>"
        )
    return (
        f"<h3>Upscaled evidence face, audit entry {rec.seq}</h3>" + picture + kv_table(rows, mono_keys=MONO)
    )
