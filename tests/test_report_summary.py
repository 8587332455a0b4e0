"""Issue 14 items 6 and 7: the report embeds the evidence unaltered (lossless, at its own pixels, enlarged
only by pixel repetition, the face box on a separate annotated copy) and candidates losslessly; page 1 is
a one-page summary; parameters and library versions go to an appendix; a run without candidates is one
line."""

from __future__ import annotations

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A typical case: an 89 x 109 crop with a face box, a finished run with a pick and a note, and a run
    cancelled before its first candidate; its report, written once for the module."""
    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.settings import Settings

    root = tmp_path_factory.mktemp("summary")
    store = CaseStore(Settings(home=root / "home", models_dir=root / "models"), actor="analyst-5")
    cid = store.create_case(
        "Kiosk robbery", reference="R-2026-0117", analyst="J. Doe", notes="Conclusion: show #3 to W-2."
    )
    eid = store.evidence.import_file(
        cid, make_image(root / "crop.png", seed=4, size=(89, 109)), face_box=(20, 25, 70, 90)
    )
    r1 = store.runs.record(cid, [eid], fake_result(n=4, seed=100, prompt="a man in his forties, short beard"))
    pick = store.candidates.of_run(r1)[2]
    store.candidates.set_pick(pick["id"])
    store.candidates.annotate(pick["id"], "Closest to witness statement W-2.")
    r2 = store.runs.start(
        cid, [eid], prompt="a tall woman with long dark hair", parameters={"n_candidates": 4}
    )
    store.runs.finish(r2, "cancelled", error="cancelled by the analyst")
    out = write_case_report(store, cid, root / "report.pdf")
    yield store, cid, eid, pick, out
    store.close()


def _texts(pdf) -> list[str]:
    return [" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf))]


def _embedded_images(pdf) -> list[np.ndarray]:
    raw = pdfium.raw
    out = []
    for i in range(len(pdf)):
        for obj in pdf[i].get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE]):
            out.append(np.asarray(obj.get_bitmap(render=False).to_pil().convert("RGB")))
    return out


def test_evidence_is_embedded_lossless_at_its_own_pixels(written):
    from tfgnet_desk.report.images import repeat_pixels

    store, _, eid, pick, out = written
    assert b"/DCTDecode" not in out.read_bytes(), "a picture was embedded as JPEG"
    evidence = store.evidence.load_image(eid)
    assert evidence.shape[:2] == (109, 89)
    want = repeat_pixels(evidence, 2)  # 109 px in a 300 px slot: 2x, a whole number, by pixel repetition
    pdf = pdfium.PdfDocument(str(out))
    try:
        images = _embedded_images(pdf)
        text = " ".join(_texts(pdf))
    finally:
        pdf.close()
    same = [im for im in images if im.shape == want.shape and np.array_equal(im, want)]
    assert same, (
        f"no embedded picture is the evidence enlarged 2x by pixel repetition: {[i.shape for i in images]}"
    )
    # the face box is on a separate, labelled copy: the evidence picture itself carries no mark
    boxed = [im for im in images if im.shape == want.shape and not np.array_equal(im, want)]
    assert boxed and (boxed[0] != want).any(axis=2).mean() < 0.2
    assert "89 x 109 pixels, shown at its own pixels, enlarged 2x by pixel repetition" in text
    assert "lossless in this PDF" in text
    assert "Annotated copy, not evidence: the red rectangle is the recorded face box" in text
    # candidates: nearest-neighbour enlargement (32 px -> 8x), lossless; only the SYNTHETIC stamp differs
    cand = repeat_pixels(np.asarray(Image.open(store.home / pick["file"]).convert("RGB")), 8)
    matches = [(im == cand).all(axis=2).mean() for im in images if im.shape == cand.shape]
    assert matches and max(matches) > 0.6, matches


def test_large_evidence_is_embedded_at_its_own_pixels_or_reduced_and_says_so():
    from tfgnet_desk.report.images import evidence_picture

    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (500, 400, 3), dtype=np.uint8)
    pic = evidence_picture(big, slot=300)
    assert pic.factor == 1 and pic.reduced == 1 and np.array_equal(pic.pixels, big)
    assert (pic.width, pic.height) == (240, 300) and "embedded at its own pixels" in pic.note
    huge = evidence_picture(big, slot=300, max_pixels=50_000)
    assert huge.reduced == 2 and huge.pixels.shape == (250, 200, 3) and "reduced 1/2" in huge.note
    small = evidence_picture(big[:40, :30], slot=300)
    assert small.factor == 7 and small.pixels.shape == (280, 210, 3) and "enlarged 7x" in small.note


def test_page_one_is_a_summary_and_the_details_follow(written):
    store, cid, _, pick, out = written
    pdf = pdfium.PdfDocument(str(out))
    try:
        texts = _texts(pdf)
    finally:
        pdf.close()
    first = texts[0]
    for wanted in (
        "Kiosk robbery",
        "R-2026-0117",
        "J. Doe",
        "open",
        "crop.png",
        '"a man in his forties, short beard"',
        "Run 1, candidate #3",
        "Closest to witness statement W-2.",
        "Conclusion: show #3 to W-2.",
        "Investigative leads, not identifications.",
        "Demographic bias.",
        "Scores are model similarities, not probabilities of identity.",  # the end of the bias statement
    ):
        assert wanted in first, f"page 1 lacks {wanted!r}"
    for s in pick["scores"].values():
        assert f"{s['calibrated']:.3f} (raw {s['raw']:.3f})" in first
    assert "Evidence in detail" not in first and texts[1].split("Evidence in detail")[0].count(" ") < 40
    # parameters and library versions only in the appendix, as a table, not as JSON blocks
    appendix = " ".join(texts).split("Appendix: parameters and library versions")
    assert len(appendix) == 2
    assert "parameter: guidance" not in appendix[0] and "library: torch" not in appendix[0]
    assert "parameter: guidance" in appendix[1] and "library: torch 2.13.0" in appendix[1]
    assert '{"' not in appendix[1]  # a table of values, no JSON blocks


def test_a_cancelled_run_without_candidates_is_one_line(written):
    from tfgnet_desk.report.content import build_content

    store, cid, _, _, out = written
    html = build_content(store, cid, "now").html
    assert "<h2>Run 1" in html and "<h2>Run 2" not in html
    line = '<p class="folded"><b>Run 2</b>: cancelled: 0 of 4 candidates'
    assert html.count(line) == 1
    pdf = pdfium.PdfDocument(str(out))
    try:
        for i in range(len(pdf)):
            tp = pdf[i].get_textpage()
            found = tp.search("Run 2: cancelled").get_next()
            if found is None:
                continue
            start = found[0]
            end_at = tp.search("(details: appendix)", index=start).get_next()
            assert end_at is not None
            end = end_at[0] + end_at[1] - 1
            assert "\n" not in tp.get_text_range(start, end - start + 1)
            first, last = tp.get_charbox(start, loose=True), tp.get_charbox(end, loose=True)
            assert abs(first[1] - last[1]) < 2, "the folded run wraps onto a second line"
            break
        else:
            pytest.fail("the cancelled run is not in the report")
    finally:
        pdf.close()
