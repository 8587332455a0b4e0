"""PDF case reports (Qt: ``QPdfWriter`` + ``QTextDocument``, offscreen when there is no display).

``write_case_report(store, case_id, out_pdf)``. PySide6 is imported only when a report is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_case_report"]


def write_case_report(store: Any, case_id: int, out_pdf: Path | str) -> Path:
    """Write the PDF report of a case; see :mod:`tfgnet_desk.report.pdf`."""
    from tfgnet_desk.report.pdf import write_case_report as _write

    return _write(store, case_id, out_pdf)
