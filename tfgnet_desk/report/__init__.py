"""PDF case reports (Qt: ``QPdfWriter`` + ``QTextDocument``, offscreen when there is no display).

``write_case_report(store, case_id, out_pdf)``. PySide6 is imported only when a report is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["default_report_name", "write_case_report"]


def default_report_name(title: str, when: str) -> str:
    """A file name for a case's report: the title made file-safe, then the date (``YYYY-MM-DD``)."""
    import re

    safe = re.sub(r"[^A-Za-z0-9]+", "-", str(title)).strip("-")[:60].rstrip("-") or "case"
    return f"{safe}_{str(when)[:10]}.pdf"


def write_case_report(store: Any, case_id: int, out_pdf: Path | str) -> Path:
    """Write the PDF report of a case; see :mod:`tfgnet_desk.report.pdf`."""
    from tfgnet_desk.report.pdf import write_case_report as _write

    return _write(store, case_id, out_pdf)
