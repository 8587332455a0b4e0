"""Issue 14, items 8 and 11: the reference photo says what it is for; what the window shows belongs to the
run on screen. An earlier run shows its own restored face (kept with the run), after a relaunch too; a
message about one run's cancel goes when another run is shown. (A new case showing nothing of the
previous case's run is tests/test_gui_case_display.py.) No model: runs are recorded with the case store's
recorder, as the window's worker records them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from tfgnet_desk.gui.testing import fixed_box_detector, open_window, synthetic_face
from tfgnet_desk.gui.worker import RunOutcome

SCORE = {"evidence": {"raw": 0.9, "calibrated": 0.31, "backend": "dlib-resnet"}}


def _recorded_run(store, case_id: int, tmp_path, restored: np.ndarray | None, status: str = "done") -> int:
    from tfgnet_desk.cases.recorder import RunRecorder
    from tfgnet_desk.gui.testing import write_synthetic_face

    eid = store.evidence.import_file(case_id, write_synthetic_face(tmp_path / f"e-{status}.png", 96, seed=3))
    rec = RunRecorder(store, case_id, [eid], prompt="a man", parameters={"n_candidates": 2, "seed": 5})
    rec.start()
    for i in range(2):
        rec.add(i, 5 + i, synthetic_face(64, seed=i), {})
    faces = [restored] if restored is not None else None
    rec.finish(status, {"restored_scores": [SCORE]} if faces else None, restored=faces)
    return rec.run_id


def test_the_reference_photo_says_it_only_adds_scores(qtbot, window):
    from PySide6.QtWidgets import QLabel

    role = window.evidence.findChild(QLabel, "referenceRole")
    assert role is not None and role.isVisible()
    assert role.text() == "Known person to compare against (scores only)"
    assert "does not change the candidates" in window.evidence.ref_button.toolTip()


def test_an_earlier_run_shows_its_restored_face_and_after_a_relaunch(qtbot, window, settings, tmp_path):
    w = window
    case = w.create_case("Restored faces")
    face = synthetic_face(64, seed=42)
    first = _recorded_run(w.store, case, tmp_path, face)
    second = _recorded_run(w.store, case, tmp_path, None, status="cancelled")  # ended before a result
    w.runs.show_run(second)
    assert w.candidates.restored_image is None and w.candidates.restored.pixmap().isNull()
    w.runs.show_run(first)
    assert np.array_equal(w.candidates.restored_image, face)
    assert not w.candidates.restored.pixmap().isNull()
    assert w.candidates.restored_score.text() == "vs evidence\n0.31 (raw 0.90)"
    # the compare view offers it beside the evidence face
    w.runs.compare(w.candidates.ordered_keys()[0])
    assert w.runs._compare.split.left.count() == 2
    w.runs._compare.close()
    w.close()
    qtbot.waitUntil(lambda: w._closed and not w.backend.isRunning(), timeout=30_000)

    again = open_window(settings, detector=fixed_box_detector)  # the application started again
    qtbot.addWidget(again)
    try:
        again.open_case(case)
        again.runs.show_run(first)
        assert np.array_equal(again.candidates.restored_image, face)
        assert again.store.verify(case).ok
        qtbot.waitUntil(lambda: len(again.evidence.items) >= 1, timeout=10_000)  # reopened, then closed
    finally:
        again.close()
        qtbot.waitUntil(lambda: again._closed and not again.backend.isRunning(), timeout=30_000)


def test_a_changed_restored_face_file_is_not_shown(qtbot, window, tmp_path):
    import os

    from tfgnet_desk.cases.restored import restored_entries

    w = window
    case = w.create_case("Tampered")
    run = _recorded_run(w.store, case, tmp_path, synthetic_face(64, seed=1))
    path = w.store.home / restored_entries(w.store.runs.get(run))[0]["file"]
    os.chmod(path, 0o600)
    path.write_bytes(path.read_bytes()[:-20])
    w.runs.show_run(run)
    assert w.candidates.restored_image is None
    problems = w.store.verify(case).problems
    assert any("restored face" in p for p in problems), problems


def test_viewing_another_run_drops_the_message_about_a_cancelled_run(qtbot, window, tmp_path):
    w = window
    case = w.create_case("Cancel then look back")
    done = _recorded_run(w.store, case, tmp_path, synthetic_face(64, seed=2))
    cancelled = w.store.runs.start(case, [], prompt="a man", parameters={"n_candidates": 3, "seed": 9})
    token = w.next_token()
    w.runs.follow(token)
    w.controls.set_running(True)
    w.runs._n_candidates = 3
    w.store.runs.finish(cancelled, "cancelled")
    w.runs._cancelled(RunOutcome(token, None, cancelled, [], 1.0))
    assert w.message_bar.message is not None and w.message_bar.message.kind == "cancelled"
    assert w.controls.progress.format().startswith("Cancelled")
    rows = w.history.run_ids()
    w.history.list.setCurrentRow(rows.index(done))  # the analyst looks at the earlier run
    assert w.runs.shown_run == done
    assert w.message_bar.message is None or w.message_bar.message.kind != "cancelled"
    assert w.controls.progress.format() == "Run 1: done, 2 candidates"
    assert w.candidates.restored_image is not None
    w.history.list.setCurrentRow(rows.index(cancelled))
    assert w.controls.progress.format() == "Run 2: cancelled, 0 candidates"


def test_a_live_runs_restored_face_is_the_one_kept_with_it(qtbot, window):
    """The worker hands the result's restored faces to the recorder (the same face the grid shows)."""
    from tfgnet_desk.gui.worker import _RunRecord

    calls = []
    record = _RunRecord.__new__(_RunRecord)
    record.recorder = SimpleNamespace(finish=lambda *a, **k: calls.append((a, k)))
    face = synthetic_face(64)
    record.finish("done", {"x": 1}, restored=[face])
    assert calls and calls[0][1]["restored"][0] is face
