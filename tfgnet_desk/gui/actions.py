"""Menus, actions and keyboard shortcuts of the main window. Help > Keyboard shortcuts lists exactly
these actions (built from them, so the list cannot drift from the real bindings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

from tfgnet_desk.gui import evidence_intake

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow


def _focus(widget):
    return lambda: widget.setFocus()


def build_actions(w: MainWindow) -> dict[str, QAction]:
    """Create the menu bar; returns the actions by name (tests and the shortcuts list use them)."""
    from tfgnet_desk import __version__
    from tfgnet_desk.gui.close_case import close_case_asked, reopen_case
    from tfgnet_desk.gui.widgets.about_dialog import AboutDialog, ShortcutsDialog

    actions: dict[str, QAction] = {}
    bar = w.menuBar()

    def add(
        menu, name: str, text: str, slot, keys: str | QKeySequence.StandardKey | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, w)
        action.setObjectName(f"action_{name}")
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        w.addAction(action)  # shortcuts work wherever the focus is
        actions[name] = action
        return action

    m = bar.addMenu("&File")
    add(m, "new_case", "&New case…", w.new_case_dialog, "Ctrl+N")
    add(
        m,
        "open_evidence",
        "&Open evidence…",
        lambda: evidence_intake.open_evidence_dialog(w),
        "Ctrl+O",
        "Add evidence crops from files",
    )
    add(
        m,
        "paste",
        "&Paste evidence",
        lambda: evidence_intake.paste(w),
        "Ctrl+V",
        "Add the image on the clipboard as evidence",
    )
    add(m, "reference", "Add &reference photo…", lambda: evidence_intake.open_reference_dialog(w), "Ctrl+R")
    m.addSeparator()
    add(m, "export", "&Export PDF report…", lambda: w.export_pdf(), "Ctrl+E")
    add(m, "settings", "&Settings…", w.open_settings, "Ctrl+,")
    add(m, "models", "&Models…", w.open_models, tip="List, verify and import model folders and checkpoints")
    m.addSeparator()
    add(m, "quit", "&Quit", w.close, "Ctrl+Q")

    m = bar.addMenu("&Case")
    add(m, "rename_case", "&Rename case…", w.rename_case_dialog, "F2")
    add(
        m,
        "close_case",
        "&Close case…",
        lambda: close_case_asked(w),
        "Ctrl+Shift+W",
        "Mark the open case as closed (asks first)",
    )
    add(m, "reopen_case", "Re&open case", lambda: reopen_case(w), tip="Make a closed case editable again")
    add(m, "search_cases", "&Search cases", _focus(w.case_list.search), "Ctrl+F")

    m = bar.addMenu("&Run")
    add(m, "generate", "&Generate", w.runs.generate, "Ctrl+Return")
    add(m, "cancel", "&Cancel run", w.runs.cancel, "Esc")
    add(m, "new_seed", "New random &seed", w.controls.dice.click, "Ctrl+Shift+R")

    m = bar.addMenu("&View")
    add(m, "pick", "&Pick / unpick candidate", w.candidates.toggle_pick, "Ctrl+P")
    add(m, "compare", "C&ompare candidates (zoom, before/after)", w.runs.compare_selected, "Ctrl+K")
    m.addSeparator()
    add(m, "focus_cases", "Go to &cases", _focus(w.case_list.list), "Ctrl+1")
    add(m, "focus_evidence", "Go to &evidence", _focus(w.evidence.view), "Ctrl+2")
    add(m, "focus_description", "Go to &description", _focus(w.description.edit), "Ctrl+3")
    add(m, "focus_candidates", "Go to c&andidates", _focus(w.candidates.list), "Ctrl+4")
    add(m, "focus_history", "Go to run &history", _focus(w.history.list), "Ctrl+5")

    m = bar.addMenu("&Help")

    def shortcuts_dialog():
        dialog = ShortcutsDialog(shortcut_rows(actions), w)
        dialog.show()
        w._shortcuts_dialog = dialog

    def about_dialog():
        dialog = AboutDialog(__version__, w)
        dialog.show()
        w._about_dialog = dialog

    add(m, "shortcuts", "&Keyboard shortcuts", shortcuts_dialog, "F1")
    add(m, "about", "&About tfgnet-desk", about_dialog)
    return actions


def shortcut_rows(actions: dict[str, QAction]) -> list[tuple[str, str]]:
    rows = [
        (a.text().replace("&", "").rstrip("…"), a.shortcut().toString(QKeySequence.SequenceFormat.NativeText))
        for a in actions.values()
        if not a.shortcut().isEmpty()
    ]
    rows += [
        ("Pick the selected candidate (in the grid)", "Space"),
        ("Remove the selected crop (in the strip)", "Del"),
        ("Move the face box (Shift: 10 px) / resize it", "Arrows / Ctrl+Arrows"),
        ("Next / previous control", "Tab / Shift+Tab"),
    ]
    return rows
