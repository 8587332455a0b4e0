"""The main window offscreen: opens at once, cases, evidence, face box, errors in the window.

These tests need no model: they run against a settings object whose model folder is empty, which is
also how the app must behave before the embedded model is installed.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication

from tfgnet_desk.gui import messages
from tfgnet_desk.gui.images import to_qimage
from tfgnet_desk.gui.testing import (
    no_face_detector,
    open_window,
    synthetic_face,
    write_synthetic_face,
)


def _wait_evidence(qtbot, w, n):
    qtbot.waitUntil(lambda: len(w.evidence.items) >= n, timeout=5000)


def test_window_opens_fast_and_says_model_missing(qtbot, settings):
    t0 = time.perf_counter()
    w = open_window(settings)
    qtbot.addWidget(w)
    opened = time.perf_counter() - t0
    assert w.isVisible()
    assert opened < 5.0  # generous for CI; the launch figure is measured in the subprocess test
    assert w.profile_label.text() == "[profile: tiny | cpu]"
    w.close()
    assert w._closed
    # No model in the folder (the full profile has no shipped fallback): the window opens anyway and says
    # what to do.
    w = open_window(settings.with_(profile="full"))
    qtbot.addWidget(w)
    assert w.profile_label.text() == "[profile: full | cpu]"
    msg = w.message_bar.message
    assert msg is not None and msg.kind == messages.MISSING_WEIGHTS
    assert "Settings" in msg.todo and w.message_bar.isVisible()
    assert not w.controls.generate.isEnabled()
    assert "Model missing" in w.controls.blocker.text()


def test_cases_create_rename_search_close(window):
    w = window
    a = w.create_case("Case 0411")
    b = w.create_case("Bank robbery 0412")
    assert w.case_id == b
    assert set(w.case_list.case_ids()) == {a, b}
    first = w.case_list.list.item(0).text()
    assert "Bank robbery 0412" in first and "open" in first  # newest first, with status
    w.rename_case(a, "Case 0411 (renamed)")
    assert w.store.get_case(a)["title"] == "Case 0411 (renamed)"
    w.case_list.search.setText("renamed")
    assert w.case_list.case_ids() == [a]
    w.case_list.search.clear()
    w.close_case(a)
    assert w.store.get_case(a)["status"] == "closed"
    texts = [w.case_list.list.item(i).text() for i in range(w.case_list.list.count())]
    assert any("closed" in t for t in texts)
    w.case_list.select(a)
    assert w.case_id == a


def test_load_evidence_from_file_shows_face_box(qtbot, window, tmp_path):
    w = window
    path = write_synthetic_face(tmp_path / "crop1.png", 128, seed=1)
    w.add_evidence_files([path])  # creates a case when none is open
    _wait_evidence(qtbot, w, 1)
    assert w.case_id is not None
    item = w.evidence.current_item()
    assert item.box == (19, 19, 108, 108) and item.method == "test-fixed"
    assert w.evidence.view.box() == item.box
    rows = w.store.evidence.of_case(w.case_id)
    assert len(rows) == 1 and rows[0]["original_name"] == "crop1.png"
    assert "Face found" in w.evidence.state.text()


def test_face_box_adjust_by_drag_and_keys_is_saved(qtbot, window, tmp_path):
    w = window
    w.add_evidence_files([write_synthetic_face(tmp_path / "c.png", 128, seed=2)])
    _wait_evidence(qtbot, w, 1)
    view = w.evidence.view
    item = w.evidence.current_item()
    x0, y0, x1, y1 = item.box
    # drag the bottom-right corner handle 10 image pixels outwards... and inwards to stay in the image
    start = view.mapFromScene(x1, y1)
    end = view.mapFromScene(x1 - 20, y1 - 20)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    nx0, ny0, nx1, ny1 = item.box
    assert (nx0, ny0) == (x0, y0) and abs(nx1 - (x1 - 20)) <= 2 and abs(ny1 - (y1 - 20)) <= 2
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert item.box[0] == nx0 - 1
    stored = w.store.evidence.get(item.store_id)["face_box"]
    assert list(stored) == list(item.box)
    assert "by hand" in w.evidence.state.text()


def _whole_crop_detector(image):
    """What the detectors answer for a gradient: no face, the whole image offered as the box."""
    h, w = image.shape[:2]
    return (0, 0, w, h), "whole-crop"


@pytest.mark.parametrize("detector", [no_face_detector, _whole_crop_detector], ids=["none", "whole-crop"])
def test_no_face_is_a_normal_state_and_drawing_a_box_fixes_it(
    qtbot, settings, tmp_path, detector, monkeypatch
):
    monkeypatch.setattr("tfgnet_desk.gui.main_window.model_present", lambda _s: True)  # blocker: the crop's
    w = open_window(settings, detector=detector)
    qtbot.addWidget(w)
    w.description.edit.setPlainText("a man with glasses")
    w.add_evidence_files([write_synthetic_face(tmp_path / "blank.png", 96, seed=3)])
    _wait_evidence(qtbot, w, 1)
    assert w.message_bar.message.kind == messages.NO_FACE
    assert "No face was found" in w.message_bar.message.text
    assert "draw the face box" in w.evidence.state.text()
    assert w.evidence.current_item().box is None and not w.evidence.used_items()  # left out: unticked
    # ticking it by hand without a box does not let it run
    w.evidence.strip.item(0).setCheckState(Qt.CheckState.Checked)
    assert w.evidence.used_items() and "Draw the face box on blank.png" in w.controls.blocker.text()
    w.evidence.strip.item(0).setCheckState(Qt.CheckState.Unchecked)
    view = w.evidence.view
    a, b = view.mapFromScene(20, 20), view.mapFromScene(70, 80)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(view.viewport(), pos=b)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=b)
    box = w.evidence.current_item().box
    assert box is not None and abs(box[0] - 20) <= 2 and abs(box[3] - 80) <= 2
    assert w.message_bar.message is None  # the warning goes once the analyst drew a box
    assert [it.name for it in w.evidence.used_items()] == ["blank.png"]  # and the crop is ticked
    assert "Draw the face box" not in w.controls.blocker.text()
    w.close()


def test_bad_file_shows_error_and_keeps_description(qtbot, window, tmp_path):
    w = window
    w.create_case("Case bad file")
    text = "a man, thick eyebrows, wears glasses"
    w.description.edit.setPlainText(text)
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"this is not a picture")
    w.add_evidence_files([bad])
    qtbot.waitUntil(
        lambda: w.message_bar.message is not None and w.message_bar.message.kind == messages.BAD_FILE,
        timeout=5000,
    )
    assert w.message_bar.isVisible()
    assert "notes.jpg" in w.message_bar.text.text() and "JPEG" in w.message_bar.todo.text()
    assert w.description.text() == text
    assert w.evidence.items == {}
    assert w.store.evidence.of_case(w.case_id) == []


def test_drop_paste_and_image_data_from_other_apps(qtbot, window, tmp_path):
    w = window
    path = write_synthetic_face(tmp_path / "dropped.png", 128, seed=4)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert w.evidence.accept_mime(mime)
    _wait_evidence(qtbot, w, 1)
    other = QMimeData()
    other.setImageData(to_qimage(synthetic_face(128, seed=5)))  # e.g. dragged from a browser
    assert w.evidence.accept_mime(other)
    _wait_evidence(qtbot, w, 2)
    QGuiApplication.clipboard().setImage(to_qimage(synthetic_face(128, seed=6)))
    w.actions["paste"].trigger()
    _wait_evidence(qtbot, w, 3)
    assert len(w.store.evidence.of_case(w.case_id)) == 3
    assert len(w.evidence.used_items()) == 3  # several crops per run
    # a file dropped on another part of the window (the description, the candidates) is evidence too
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    late = QMimeData()
    late.setUrls([QUrl.fromLocalFile(str(write_synthetic_face(tmp_path / "late.png", 128, seed=7)))])
    pos = w.candidates.mapTo(w, w.candidates.rect().center())
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, late, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QGuiApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        late,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QGuiApplication.sendEvent(w, drop)
    _wait_evidence(qtbot, w, 4)


def test_description_hint_validation_and_autosave(qtbot, window):
    w = window
    case = w.create_case("Case text")
    w.description.edit.setPlainText("thick eyebrows, glasses")
    assert "say who the crop shows" in w.description.hint.text().lower()
    assert w.description.validate() is not None
    w.description.edit.setPlainText("a woman, thick eyebrows, glasses")
    assert w.description.hint.text() == 'Ready: the evidence\'s face is attached to "woman"'
    w.description.flush()
    other = w.create_case("Other case")
    assert w.description.text() == ""
    w.case_list.select(case)
    assert w.description.text() == "a woman, thick eyebrows, glasses"
    assert other != case


def test_shortcuts_listed_in_help_and_dialogs_open(qtbot, window):
    w = window
    w.actions["shortcuts"].trigger()
    rows = dict(w._shortcuts_dialog.rows)
    for name in (
        "New case",
        "Open evidence",
        "Generate",
        "Cancel run",
        "Export PDF report",
        "Settings",
        "Compare candidates (zoom, before/after)",
        "Keyboard shortcuts",
    ):
        assert name in rows and rows[name], name
    w.actions["about"].trigger()
    text = w._about_dialog.findChild(type(w.profile_label), "leadsStatement").text()
    assert "investigative leads" in text and "not identifications" in text
    w._shortcuts_dialog.close()
    w._about_dialog.close()


def test_settings_dialog_model_view(qtbot, settings, tmp_path):
    from tfgnet_desk.gui.widgets.settings_dialog import SettingsDialog
    from tfgnet_desk.model_folders.manifest import write_manifest

    folder = settings.models_dir / "tiny"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text("{}")
    (folder / "vae").mkdir()
    (folder / "vae" / "config.json").write_text("{}")
    write_manifest(folder, licence="Apache-2.0", source="test")
    (folder / "vae" / "config.json").unlink()
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.statuses() == {"unet": "present", "vae": "missing"}
    assert dialog.table.item(0, 3).text() == "Apache-2.0"
    dialog.start_verify()
    qtbot.waitUntil(lambda: dialog.verify.isEnabled(), timeout=5000)
    assert dialog.statuses() == {"unet": "verified", "vae": "missing"}
    assert "missing files" in dialog.summary.text()
    new = dialog.result_settings()
    assert new.models_dir == settings.models_dir and new.profile == "tiny"


def test_keyboard_reaches_main_panes(qtbot, window):
    w = window
    w.activateWindow()
    targets = {
        "focus_cases": w.case_list.list,
        "focus_evidence": w.evidence.view,
        "focus_description": w.description.edit,
        "focus_candidates": w.candidates.list,
        "focus_history": w.history.list,
    }
    for name, widget in targets.items():
        w.actions[name].trigger()
        qtbot.waitUntil(widget.hasFocus, timeout=1000)
    assert w.actions["generate"].shortcut().toString() == "Ctrl+Return"


def test_class_words_match_the_model_vocabulary():
    from tfgnet_desk.data.captions import CLASS_WORDS as MODEL_WORDS
    from tfgnet_desk.gui.widgets.description_editor import CLASS_WORDS, find_class_words

    assert tuple(CLASS_WORDS) == tuple(MODEL_WORDS)
    assert find_class_words("A Man with glasses, not a woman") == ["man", "woman"]
    assert find_class_words("mannequin, human") == []


def test_export_pdf_calls_the_case_report(qtbot, window, tmp_path):
    w = window
    assert w.export_pdf(tmp_path / "none.pdf") is None  # no case open: a message, no file
    assert w.message_bar.message.title == "No case open"
    w.add_evidence_files([write_synthetic_face(tmp_path / "e.png", 128, seed=8)])
    _wait_evidence(qtbot, w, 1)
    out = w.export_pdf(tmp_path / "case.pdf")
    assert out is not None and out.read_bytes()[:5] == b"%PDF-"
    assert any(e.action == "report.write" for e in w.store.audit_trail(w.case_id))


def test_generate_shortcut_from_the_description_validates_before_running(qtbot, window):
    w = window
    w.create_case("Case keys")
    w.activateWindow()
    w.description.edit.setFocus()
    qtbot.waitUntil(w.description.edit.hasFocus, timeout=1000)
    qtbot.keyClicks(w.description.edit, "short hair")
    qtbot.keyClick(w.description.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.description.text() == "short hair"  # the shortcut ran; no newline typed
    msg = w.message_bar.message
    assert msg.title == "Cannot generate yet" and not w.runs.is_running()
