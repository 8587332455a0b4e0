"""Issue "The analyst's desktop, made trustworthy", items 11 and 14: what the window shows belongs to the
open case (a new or another case never shows the previous case's run status, candidates or restored
face; the status line names the run on screen), a closed case leaves no case-bound action enabled, the
window fits a 1366x768 laptop screen, and spin boxes keep their up/down arrows under the style sheet.

No model is needed: runs are stored with the case store, and a run in progress is simulated by delivering
the worker's signals to the window's run session (on the GUI thread), as tests/test_gui_scores.py does.
"""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QMimeData, QUrl

from tfgnet_desk.gui.testing import (
    synthetic_face,
    write_synthetic_face,
)
from tfgnet_desk.gui.worker import CandidateEvent, RunOutcome


def _candidate(i: int) -> SimpleNamespace:
    return SimpleNamespace(index=i, seed=7 + i, image=synthetic_face(64, seed=i), scores={})


def _live_run(w, n: int = 2, seconds: float = 4.5) -> int:
    """A run of the open case as the worker delivers it: candidates, then the end with a restored face."""
    token = w.next_token()
    w.runs.follow(token)
    w.controls.set_running(True)
    cands = [_candidate(i) for i in range(n)]
    for c in cands:
        w.runs._candidate(CandidateEvent(token, c))
    result = SimpleNamespace(candidates=cands, restored=[synthetic_face(64, seed=9)], provenance={})
    w.runs._finished(RunOutcome(token, result, None, cands, seconds))
    return token


def _stored_run(w, case_id: int, n: int, wanted: int, status: str, tmp_path) -> int:
    store = w.store
    crop = write_synthetic_face(tmp_path / f"crop-{case_id}-{n}.png", 64, seed=n)
    eid = store.evidence.import_file(case_id, crop)
    run = store.runs.start(case_id, [eid], prompt="a man", parameters={"n_candidates": wanted, "seed": 7})
    for i in range(n):
        store.runs.add_candidate(run, i, 7 + i, synthetic_face(64, seed=i), {})
    store.runs.finish(run, status)
    return run


def _assert_blank(w) -> None:
    assert w.controls.progress.format() == "idle" and w.controls.progress.value() == 0
    assert w.candidates.cards == {} and w.candidates.list.count() == 0
    assert w.candidates.restored_image is None
    assert w.candidates.restored.pixmap().isNull()


def test_a_new_case_shows_nothing_of_the_previous_cases_run(qtbot, window):
    w = window
    w.create_case("Bank robbery")
    _live_run(w)
    assert w.controls.progress.format() == "Done: 2 candidates in 4.5 s"
    assert len(w.candidates.cards) == 2 and w.candidates.restored_image is not None
    w.create_case("Second case")
    _assert_blank(w)
    assert w.history.run_ids() == []


def test_opening_a_case_shows_its_own_last_run_and_history_picks_name_their_run(qtbot, window, tmp_path):
    w = window
    a = w.create_case("Two runs")
    first = _stored_run(w, a, n=2, wanted=4, status="cancelled", tmp_path=tmp_path)
    second = _stored_run(w, a, n=4, wanted=4, status="done", tmp_path=tmp_path)
    b = w.create_case("Other case")
    _live_run(w, n=3, seconds=2.0)  # case b's run: "Done: 3 candidates in 2.0 s"
    w.case_list.select(a)
    assert w.case_id == a
    assert w.controls.progress.format() == "Run 2: done, 4 candidates"
    assert w.controls.progress.value() == 100
    assert {c.store_id for c in w.candidates.cards.values()} == {
        row["id"] for row in w.store.candidates.of_run(second)
    }
    assert w.candidates.restored_image is None  # b's restored face went with b
    rows = w.history.run_ids()
    assert rows == [second, first]  # newest first
    w.history.list.setCurrentRow(rows.index(first))
    assert w.controls.progress.format() == "Run 1: cancelled, 2 candidates"
    assert w.controls.progress.value() == 50
    assert len(w.candidates.cards) == 2
    w.case_list.select(b)
    assert w.controls.progress.format() == "idle"  # b's run was not stored (no run id)
    assert w.candidates.cards == {}


def test_a_run_of_another_case_stays_out_of_the_open_cases_grid(qtbot, window):
    w = window
    a = w.create_case("Running case")
    token = w.next_token()
    w.runs.follow(token)
    w.controls.set_running(True)
    w.runs._progress(token, "generate", 1, 25)
    w.create_case("Looked at meanwhile")
    w.runs._candidate(CandidateEvent(token, _candidate(0)))
    assert w.candidates.cards == {}
    w.runs._progress(token, "generate", 2, 25)
    assert w.controls.progress.format() == "Generating 2/25 (case 'Running case')"
    result = SimpleNamespace(candidates=[], restored=[synthetic_face(64)], provenance={})
    w.runs._finished(RunOutcome(token, result, None, [_candidate(0)], 3.0))
    assert not w.runs.is_running() and w.case_id != a
    _assert_blank(w)
    assert "Running case" in w.statusBar().currentMessage()


def test_closing_the_case_disables_case_bound_actions_until_a_case_is_open(qtbot, window, tmp_path):
    w = window
    case = w.create_case("To be closed")
    w.add_evidence_files([write_synthetic_face(tmp_path / "crop.png", 96, seed=1)])
    qtbot.waitUntil(lambda: len(w.evidence.items) == 1, timeout=5000)
    _live_run(w)
    w.close_case()
    assert w.store.get_case(case)["status"] == "closed"
    assert w.case_id is None and w.evidence.items == {}
    _assert_blank(w)
    assert not w.evidence.add_button.isEnabled() and not w.evidence.ref_button.isEnabled()
    assert not w.evidence.acceptDrops()
    for name in ("open_evidence", "paste", "reference", "generate", "export", "rename_case", "close_case"):
        assert not w.actions[name].isEnabled(), name
    assert not w.history.export.isEnabled() and not w.controls.generate.isEnabled()
    assert "No case open" in w.controls.blocker.text()
    assert "No case open" in w.evidence.state.text()
    # a drop or a programmatic add makes no new case and adds nothing to the closed one
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(write_synthetic_face(tmp_path / "late.png", 96, seed=2)))])
    assert not w.evidence.accept_mime(mime)
    w.add_evidence_files([tmp_path / "late.png"])
    assert len(w.store.list_cases()) == 1 and len(w.store.evidence.of_case(case)) == 1
    w.create_case("Next case")
    assert w.evidence.add_button.isEnabled() and w.evidence.ref_button.isEnabled()
    for name in ("open_evidence", "paste", "reference", "generate", "export", "rename_case", "close_case"):
        assert w.actions[name].isEnabled(), name
    assert w.history.export.isEnabled() and w.evidence.acceptDrops()


def test_window_fits_a_1366x768_laptop_screen(qtbot, window):
    from PySide6.QtWidgets import QScrollArea

    w = window
    for size in (w.minimumSizeHint(), w.minimumSize()):
        assert size.width() <= 1024 and size.height() <= 640, size
    assert w.size().width() <= 1340 and w.size().height() <= 720
    from tfgnet_desk.gui.layout import DEFAULT_SIZE  # on a larger screen than the test's

    assert DEFAULT_SIZE.width() <= 1340 and DEFAULT_SIZE.height() <= 720
    # still usable at its minimum size: every control can be scrolled into view
    w.resize(w.minimumSize())
    qtbot.waitUntil(lambda: w.size() == w.minimumSize(), timeout=2000)
    for widget in (
        w.controls.generate,
        w.controls.seed,
        w.evidence.ref_button,
        w.history.export,
        w.candidates.note,
    ):
        area = widget.parent()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parent()
        if area is not None:
            area.ensureWidgetVisible(widget)
        qtbot.waitUntil(lambda widget=widget: not widget.visibleRegion().isEmpty(), timeout=2000)


def _dark_pixels(spin, sub_control) -> int:
    from PySide6.QtWidgets import QStyle, QStyleOptionSpinBox

    opt = QStyleOptionSpinBox()
    spin.initStyleOption(opt)
    rect = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, opt, sub_control, spin)
    inner = rect.adjusted(2, 2, -2, -2)  # the arrow, not the button's edge
    image = spin.grab().toImage()
    return sum(
        image.pixelColor(x, y).lightness() < 128
        for x in range(inner.left(), inner.right() + 1)
        for y in range(inner.top(), inner.bottom() + 1)
    )


def test_spin_boxes_show_their_up_and_down_arrows(qtbot, window):
    from PySide6.QtWidgets import QStyle

    window.controls.steps.setValue(100)  # both directions enabled
    window.controls.guidance.setValue(10.0)
    for spin in (window.controls.steps, window.controls.guidance):
        for sub in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
            assert _dark_pixels(spin, sub) >= 6, (spin.objectName(), sub)
