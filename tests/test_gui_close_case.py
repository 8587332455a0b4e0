"""Closing a case asks first; a closed case opened from the list is read-only until it is reopened; the
PDF export suggests the case's title and date as the file name (issue 14 item 14)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tfgnet_desk.gui.testing import write_synthetic_face

EVIDENCE_ACTIONS = ("open_evidence", "paste", "reference", "generate")


def answer_close_dialog(button_text: str, seen: list[str]) -> None:
    """Press ``button_text`` in the close-case question once it is shown (it runs its own event loop)."""

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "confirmCloseCase":
            seen.append(box.text())
            next(b for b in box.buttons() if b.text() == button_text).click()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def test_closing_a_case_asks_first(qtbot, window):
    w = window
    case = w.create_case("Kiosk 0412")
    seen: list[str] = []
    answer_close_dialog("Keep it open", seen)
    w.actions["close_case"].trigger()
    assert seen == ["Close the case “Kiosk 0412”?"]
    assert w.store.get_case(case)["status"] == "open" and w.case_id == case
    answer_close_dialog("Close case", seen)
    w.actions["close_case"].trigger()
    assert len(seen) == 2
    assert w.store.get_case(case)["status"] == "closed" and w.case_id is None


def test_a_closed_case_is_shown_read_only_until_reopened(qtbot, window, tmp_path):
    w = window
    case = w.create_case("Closed one")
    w.add_evidence_files([write_synthetic_face(tmp_path / "crop.png", 96, seed=1)])
    qtbot.waitUntil(lambda: len(w.evidence.items) == 1, timeout=5000)
    w.close_case()
    w.create_case("Another")
    w.case_list.select(case)  # looked at again from the list
    assert w.case_id == case
    qtbot.waitUntil(lambda: len(w.evidence.items) == 1, timeout=5000)  # its evidence is shown
    assert "(closed)" in w.windowTitle()
    assert not w.evidence.add_button.isEnabled() and not w.evidence.ref_button.isEnabled()
    assert not w.evidence.remove_button.isEnabled() and not w.evidence.view.isEnabled()
    assert not w.evidence.acceptDrops() and not w.description.edit.isEnabled()
    for name in (*EVIDENCE_ACTIONS, "close_case"):
        assert not w.actions[name].isEnabled(), name
    assert w.actions["export"].isEnabled() and w.actions["reopen_case"].isEnabled()
    assert "closed" in w.controls.blocker.text() and not w.controls.generate.isEnabled()
    w.add_evidence_files([write_synthetic_face(tmp_path / "late.png", 96, seed=2)])
    assert len(w.store.evidence.of_case(case)) == 1  # nothing added to the closed case
    w.actions["reopen_case"].trigger()
    assert w.store.get_case(case)["status"] == "open"
    assert w.store.audit_trail(case)[-1].action == "case.update"  # reopening is audited
    assert w.evidence.add_button.isEnabled() and w.actions["open_evidence"].isEnabled()
    assert w.actions["close_case"].isEnabled() and not w.actions["reopen_case"].isEnabled()
    qtbot.waitUntil(lambda: len(w.evidence.items) == 1, timeout=5000)
    assert w.evidence.remove_button.isEnabled() and w.evidence.view.isEnabled()


def test_the_report_is_suggested_under_the_case_title_and_date(qtbot, window, monkeypatch):
    import re

    from tfgnet_desk.gui import export

    w = window
    w.create_case("Kiosk robbery <Main St>")
    asked: list[str] = []

    def save_name(_parent, _title, suggested, _filter):
        asked.append(suggested)
        return "", ""

    monkeypatch.setattr(export.QFileDialog, "getSaveFileName", save_name)
    assert w.export_pdf() is None  # the analyst cancelled the file dialog
    name = Path(asked[0]).name
    assert name != "case.pdf" and name.endswith(".pdf")
    assert re.fullmatch(r"Kiosk-robbery-Main-St_\d{4}-\d{2}-\d{2}\.pdf", name), name
