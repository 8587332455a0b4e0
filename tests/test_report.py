"""The PDF case report: a valid PDF whose text holds the hashes, prompts and scores, with non-blank pages,
a case id and page number on every page, candidates stamped SYNTHETIC, and the two statements."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A case with two runs, a pick and a note, and its report (written once for the module)."""
    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.settings import Settings

    root = tmp_path_factory.mktemp("report")
    settings = Settings(home=root / "home", models_dir=root / "models")
    store = CaseStore(settings, actor="analyst-7")
    cid = store.create_case(
        "Kiosk robbery <Main St>", reference="R-2026-0117", analyst="J. Doe", notes="Camera 3 & 4, 21:14."
    )
    eid = store.evidence.import_file(
        cid, make_image(root / "cam3_frame112.png", size=(160, 120)), face_box=(50, 20, 110, 90)
    )
    r1 = store.runs.record(cid, [eid], fake_result(n=4, seed=100))
    r2 = store.runs.record(
        cid, [eid], fake_result(n=3, seed=200, prompt="a woman in her twenties with long dark hair")
    )
    k = store.candidates.of_run(r1)[2]
    store.candidates.set_pick(k["id"])
    store.candidates.annotate(k["id"], "Closest to witness statement W-2.")
    out = write_case_report(store, cid, root / "out" / "case report.pdf")
    yield store, cid, [r1, r2], out
    store.close()


def test_report_is_a_pdf_and_is_audited(report):
    store, cid, _, out = report
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2
    assert not list(out.parent.glob(".*.tmp"))
    last = store.audit_trail(cid)[-1]
    assert last.action == "report.write" and last.details["file"] == "case report.pdf"
    assert store.verify().ok


def _pages(out):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(out))
    texts = [" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf))]
    return pdf, texts


def test_report_text_holds_hashes_prompts_scores_and_statements(report):
    store, cid, runs, out = report
    pdf, texts = _pages(out)
    pdf.close()
    text = " ".join(texts)
    case = store.get_case(cid)
    assert "Kiosk robbery <Main St>" in text and "R-2026-0117" in text and "J. Doe" in text
    assert "Camera 3 & 4, 21:14." in text
    for e in store.evidence.of_case(cid):
        assert e["sha256"] in text
    assert "50, 20, 110, 90" in text  # the face box
    for rid in runs:
        run = store.runs.get(rid)
        assert run["prompt"] in text and run["uid"] in text and run["model_hash"] in text
        for k in store.candidates.of_run(rid):
            assert k["sha256"] in text and k["pixel_sha256"] in text
            for s in k["scores"].values():
                assert f"{s['calibrated']:.3f} (raw {s['raw']:.3f}) {s['backend']}" in text
        assert ", ".join(str(k["seed"]) for k in store.candidates.of_run(rid)) in text  # every seed
        assert "2.13.0" in text and "guidance" in text and "strength" in text
    assert "Closest to witness statement W-2." in text and "PICKED" in text
    assert "investigative leads, not identifications" in text
    assert "demographic bias" in text
    assert text.count("SYNTHETIC") >= 7 + 1  # a stamp on each of the 7 grid images and on the pick
    seq, head = store.audit_head(cid)
    assert head in text and "report.write" in text and "evidence.import" in text
    assert f"entry {seq}" in text
    for i, page in enumerate(texts, start=1):
        assert f"page {i} of {len(texts)}" in page, f"page {i} lacks its number"
        assert f"Case {cid} ({case['uid'][:8]})" in page, f"page {i} lacks the case id"


def test_report_pages_are_not_blank_and_show_the_synthetic_stamp(report):
    _, _, _, out = report
    pdf, _ = _pages(out)
    red_pages = 0
    for i in range(len(pdf)):
        img = np.asarray(pdf[i].render(scale=0.6).to_pil().convert("RGB")).astype(int)
        ink = (img.min(axis=2) < 200).mean()
        assert ink > 0.005, f"page {i + 1} is blank ({ink:.4f} of pixels inked)"
        red = (img[:, :, 0] > 150) & (img[:, :, 1] < 60) & (img[:, :, 2] < 60)
        red_pages += red.sum() > 200
    pdf.close()
    assert red_pages >= 1, "no page shows the red SYNTHETIC band"


def test_report_cli(report, tmp_path, capsys):
    from tfgnet_desk.cli import main

    store, cid, _, _ = report
    out = tmp_path / "cli.pdf"
    assert main(["case", "--home", str(store.home), "report", str(cid), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert "wrote" in capsys.readouterr().out
    assert main(["case", "--home", str(store.home), "report", "999", "--out", str(out)]) == 2


def test_example_report_builds(tmp_path):
    from PIL import Image

    from tfgnet_desk.report.example import build_example

    pdf = build_example(tmp_path, png=True)
    assert pdf.read_bytes().startswith(b"%PDF-")
    with Image.open(tmp_path / "report-example.png") as im:
        assert im.width > 1000 and im.height > 700


def test_tables_with_pictures_are_not_split_across_pages():
    from PySide6.QtCore import QSizeF, QUrl
    from PySide6.QtGui import QImage, QTextDocument, QTextTable

    from tfgnet_desk.report.pdf import ensure_gui_app, keep_tables_on_one_page

    ensure_gui_app()
    img = QImage(100, 100, QImage.Format.Format_RGB32)
    img.fill(0)

    def straddles(doc, table) -> bool:
        rect = doc.documentLayout().frameBoundingRect(table)
        return int(rect.top() // 400) != int((rect.bottom() - 1) // 400)

    for n in range(60):  # enough filler lines that the picture table crosses the first page boundary
        doc = QTextDocument()
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl("img://x"), img)
        filler = "".join(f"<p>line {i}</p>" for i in range(n))
        doc.setHtml(
            filler + '<table><tr><td><img src="img://x" width="100" height="100"></td><td>caption</td>'
            "</tr></table><table><tr><td>text only</td></tr></table>"
        )
        doc.setPageSize(QSizeF(400, 400))
        table = next(f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable))
        if straddles(doc, table):
            break
    else:
        pytest.fail("could not lay out a table across a page boundary")
    assert keep_tables_on_one_page(doc, 400) == 1
    assert not straddles(doc, table)


def test_report_shows_the_reference_photo_and_an_unfinished_run(tmp_path):
    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.report.content import REFERENCE_LABEL, build_content
    from tfgnet_desk.settings import Settings

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models")
    with CaseStore(settings, actor="analyst-8") as store:
        cid = store.create_case("Reference case", reference="R-REF-1")
        eid = store.evidence.import_file(cid, make_image(tmp_path / "cctv.png", size=(120, 90)))
        ref = store.evidence.import_bytes(
            cid, make_image(tmp_path / "known.png", seed=3).read_bytes(), "known.png", kind="reference"
        )
        done = store.runs.record(cid, [eid], fake_result(n=2, seed=5), reference_id=ref)
        rid = store.runs.start(cid, [eid], prompt="a tall woman", parameters={"n_candidates": 4})
        for c in fake_result(n=2, seed=11).candidates:
            store.runs.add_candidate(rid, c.index, c.seed, c.image, c.scores)
        store.runs.finish(rid, "cancelled", error="cancelled by the analyst")

        content = build_content(store, cid, "now")
        run_html = content.html.split("<h2>Run 1")[1].split("<h2>Run 2")[0]
        assert f'img://evidence/{eid}"' in run_html and f'img://evidence/{ref}"' in run_html
        assert f'img://evidence/{ref}"' not in content.html.split("<h2>Run 2")[1]  # run 2 had no reference

        out = write_case_report(store, cid, tmp_path / "ref.pdf")
        pdf, texts = _pages(out)
        pdf.close()
        text = " ".join(texts)
        ref_row = store.evidence.get(ref)
        assert REFERENCE_LABEL in text and ref_row["sha256"] in text and "known.png" in text
        assert "cancelled: 2 of 4 candidates" in text and "cancelled by the analyst" in text
        assert store.runs.get(done)["uid"] in text and store.runs.get(rid)["uid"] in text
        assert text.count("SYNTHETIC") >= 4


def test_report_marks_evidence_removed_from_the_case(tmp_path):
    from tfgnet_desk.report.content import build_content
    from tfgnet_desk.settings import Settings

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models")
    with CaseStore(settings, actor="analyst-9") as store:
        cid = store.create_case("Removal case")
        kept = store.evidence.import_file(cid, make_image(tmp_path / "a.png", seed=1))
        gone = store.evidence.import_file(cid, make_image(tmp_path / "b.png", seed=2))
        store.evidence.exclude(gone, "wrong camera")
        html = build_content(store, cid, "now").html
        # both stay in the report (evidence is never dropped); only the removed one says so
        assert f"img://evidence/{kept}" in html and f"img://evidence/{gone}" in html
        assert html.count("Removed from the case") == 1 and "wrong camera" in html


def test_report_labels_scores_vs_evidence_and_old_runs_scores_as_old(tmp_path):
    """One vocabulary: 'vs evidence' and 'vs reference photo' for new runs, with the restored face's own
    score; a run recorded before holds 'restored' scores, labelled 'vs restored face (old runs)'."""
    from tfgnet_desk.report.content import OLD_SCORES_NOTE, SCORES_NOTE, build_content, esc
    from tfgnet_desk.report.pdf import ensure_gui_app
    from tfgnet_desk.settings import Settings

    ensure_gui_app()
    with CaseStore(Settings(home=tmp_path / "home", models_dir=tmp_path / "m")) as store:
        cid = store.create_case("Vocabulary")
        eid = store.evidence.import_file(cid, make_image(tmp_path / "cctv.png", size=(120, 90)))
        store.runs.record(cid, [eid], fake_result(n=1, seed=1))  # old: 'restored' scores
        new = fake_result(n=1, seed=2)
        new.candidates[0].scores = {"evidence": {"raw": 0.9, "calibrated": 0.42, "backend": "dlib-resnet"}}
        new.provenance["restored_scores"] = [
            {"evidence": {"raw": 0.91, "calibrated": 0.52, "backend": "dlib-resnet"}}
        ]
        store.runs.record(cid, [eid], new)
        html = build_content(store, cid, "now").html
    old_run, new_run = html.split("<h2>Run 1")[1].split("<h2>Run 2")
    assert "vs restored face (old runs): 0.500 (raw 0.300) dlib-resnet" in old_run
    assert esc(OLD_SCORES_NOTE) in old_run and "vs evidence" not in old_run
    assert "vs evidence: 0.420 (raw 0.900) dlib-resnet" in new_run and esc(SCORES_NOTE) in new_run
    assert "Restored face (model output)" in new_run and "vs evidence: 0.520 (raw 0.910)" in new_run
    assert "provenance: restored_scores" not in new_run  # shown once, readably


def test_long_titles_are_elided_not_overprinted_and_the_audit_head_is_on_every_page(tmp_path):
    """Issue 17 items 4 and 8: header and footer text fits its line (ellipsis), the audit chain's head
    anchors every page, line breaks in notes survive, and characters the font lacks (emoji) print as
    their code point."""
    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.settings import Settings

    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "models")
    long_title = "Armed robbery at the all-night pharmacy on the corner " * 4
    long_ref = "REF-" + "9" * 60
    with CaseStore(settings, actor="analyst-9") as store:
        notes = "first line\nsecond line \U0001f9d0 \u4e2d \U0010fffd"
        cid = store.create_case(long_title, reference=long_ref, notes=notes)
        eid = store.evidence.import_file(cid, make_image(tmp_path / "cam.png", size=(120, 90)))
        store.runs.record(cid, [eid], fake_result(n=2, seed=5))
        out = write_case_report(store, cid, tmp_path / "long.pdf")
        seq, head = store.audit_head(cid)
        pdf, texts = _pages(out)
        try:
            page = pdf[0]
            tp = page.get_textpage()
            width = page.get_width()
            # every character of the header and footer lies on the page, none past its right edge
            boxes = [tp.get_charbox(i) for i in range(tp.count_chars())]
            assert boxes and max(b[2] for b in boxes) <= width
        finally:
            pdf.close()
        for text in texts:
            assert f"audit head {seq}:{head[:16]}" in text
            assert "…" in text or "..." in text  # the long title was elided
            assert f"page {texts.index(text) + 1} of {len(texts)}" in text
        joined = " ".join(texts)
        # A character no installed font can draw prints as its code point (U+10FFFD, a private-use code
        # point no font maps); the emoji and the CJK character print as themselves where a fallback font
        # has them (Droid Sans Fallback draws U+4E2D) and as code points where none does: never as nothing.
        import re

        line = r"first line second line (\U0001f9d0|\[U\+1F9D0\]) (\u4e2d|\[U\+4E2D\]) \[U\+10FFFD\]"
        assert re.search(line, joined), joined[:400]
        from tfgnet_desk.report.content import build_content

        assert "first line<br>second line" in build_content(store, cid, "now").html


def test_candidates_are_numbered_as_in_the_window(report, capsys):
    """Issue 14 item 5: the window's '#3 ... picked' was 'candidate 2' in the PDF. One numbering."""
    from tfgnet_desk.cli import main
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard  # noqa: F401 - the window's label
    from tfgnet_desk.report.content import build_content
    from tfgnet_desk.score_labels import candidate_label

    store, cid, (r1, _), _ = report
    picked = store.candidates.of_run(r1)[2]
    assert picked["idx"] == 2 and candidate_label(picked["idx"]) == "#3"
    html = build_content(store, cid, "now").html
    assert "candidate #3</b>" in html and "candidate 2</b>" not in html
    main(["case", "--home", str(store.settings.home), "show", str(cid)])
    assert f"candidate {picked['id']} #3 seed" in capsys.readouterr().out


def test_the_report_file_name_comes_from_the_case_title_and_date():
    """Issue 14 item 14: the window suggested `case.pdf` for every case."""
    from tfgnet_desk.report import default_report_name

    name = default_report_name("Kiosk robbery <Main St>", "2026-11-30T13:00:00Z")
    assert name == "Kiosk-robbery-Main-St_2026-11-30.pdf"
    assert default_report_name("///", "2026-01-02") == "case_2026-01-02.pdf"
    assert len(default_report_name("x" * 500, "2026-01-02")) < 80
