"""File > Export PDF report: the open case's report, written by ``tfgnet_desk.report``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow


def export_case_report(w: MainWindow, out: Path | None = None) -> Path | None:
    """Write the open case's report to ``out`` (None: ask where); returns the file, or None (a message
    in the window says why)."""
    if w.case_id is None or w.store is None:
        w.show_message(
            messages.UserMessage(
                messages.INVALID_INPUT,
                "No case open",
                "There is nothing to export yet.",
                "Open or create a case first.",
                "warning",
            )
        )
        return None
    if out is None:
        from tfgnet_desk.cases.audit import utc_now
        from tfgnet_desk.report import default_report_name

        title = w.store.get_case(w.case_id)["title"]
        suggested = Path.home() / default_report_name(title, utc_now())
        name, _ = QFileDialog.getSaveFileName(w, "Export case report", str(suggested), "PDF (*.pdf)")
        if not name:
            return None
        out = Path(name)
    try:
        from tfgnet_desk.report import write_case_report
    except ImportError:
        w.show_message(
            messages.UserMessage(
                messages.UNEXPECTED,
                "Report module missing",
                "This installation has no PDF report writer.",
                "Update tfgnet-desk; the case data is safe in the store.",
            )
        )
        return None
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        write_case_report(w.store, w.case_id, out)
    except Exception as exc:  # noqa: BLE001
        w.show_message(messages.explain(exc, "writing the report"))
        return None
    finally:
        QGuiApplication.restoreOverrideCursor()
    w.statusBar().showMessage(f"Report written to {out}", 8000)
    return out
