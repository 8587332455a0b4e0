"""Evidence in the window: removal (saved, audited, undone) and the face detection kept with the case."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tfgnet_desk.gui.testing import fixed_box_detector, open_window, write_synthetic_face


def _wait_evidence(qtbot, w, n):
    qtbot.waitUntil(lambda: len(w.evidence.items) >= n, timeout=5000)


def test_removing_a_crop_is_saved_audited_and_can_be_undone(qtbot, window, tmp_path):
    w = window
    case = w.create_case("Case removal")
    w.add_evidence_files([write_synthetic_face(tmp_path / f"c{i}.png", 96, seed=i) for i in range(2)])
    _wait_evidence(qtbot, w, 2)

    def remove_first() -> int:
        w.evidence.strip.setCurrentRow(0)
        store_id = w.evidence.items[w.evidence.strip.item(0).data(Qt.UserRole)].store_id
        w.evidence.remove_button.click()
        assert len(w.evidence.items) == 1
        return store_id

    removed = remove_first()
    assert w.store.evidence.get(removed)["excluded_at"] is not None
    assert w.store.audit_trail(case)[-1].action == "evidence.excluded"
    msg = w.message_bar.message
    assert msg is not None and msg.title == "Crop removed from the case"
    # Undo (the message bar's action) brings it back, audited
    w.message_bar.action_requested.emit(msg.kind)
    _wait_evidence(qtbot, w, 2)
    assert w.store.evidence.get(removed)["excluded_at"] is None
    assert [e.action for e in w.store.audit_trail(case)][-2:] == ["evidence.excluded", "evidence.included"]
    # removed again, the case reopened (as after a relaunch): it stays out
    removed = remove_first()
    w.create_case("Other")
    w.open_case(case)
    _wait_evidence(qtbot, w, 1)
    qtbot.wait(300)
    assert len(w.evidence.items) == 1
    assert all(it.store_id != removed for it in w.evidence.items.values())


def test_reopening_a_case_reuses_the_stored_face_detection(qtbot, settings, tmp_path):
    calls: list[tuple[int, int]] = []

    def counting(image):
        calls.append(image.shape[:2])
        return fixed_box_detector(image)

    w = open_window(settings, detector=counting)
    qtbot.addWidget(w)
    case = w.create_case("Case reopen")
    w.add_evidence_files([write_synthetic_face(tmp_path / f"r{i}.png", 96, seed=i) for i in range(2)])
    _wait_evidence(qtbot, w, 2)
    assert len(calls) == 2
    boxes = {it.store_id: it.detected_box for it in w.evidence.items.values()}
    w.create_case("Other")
    w.open_case(case)
    _wait_evidence(qtbot, w, 2)
    assert len(calls) == 2  # not analysed again
    assert {it.store_id: it.detected_box for it in w.evidence.items.values()} == boxes
    w.close()


def test_evidence_arriving_after_the_window_closed_is_ignored(qtbot, window, tmp_path):
    """Found while relaunching: an analysis that finished after close queried the closed store."""
    import numpy as np

    from tfgnet_desk.gui.analysis import LoadedEvidence

    w = window
    w.create_case("Case closing")
    w.add_evidence_files([write_synthetic_face(tmp_path / "c.png", 96, seed=0)])
    _wait_evidence(qtbot, w, 1)
    eid = next(iter(w.evidence.items.values())).store_id
    w.shutdown()
    late = LoadedEvidence(1, "late.png", np.zeros((8, 8, 3), np.uint8), eid, None, "whole-crop", None)
    w._evidence_loaded(late)  # raised sqlite3.ProgrammingError (closed database) before the guard
    assert len(w.evidence.items) == 1
