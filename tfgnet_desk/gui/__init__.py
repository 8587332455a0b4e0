"""The PySide6 desktop application (the only package besides ``report/`` that imports Qt).

``run_app()`` (in :mod:`tfgnet_desk.gui.app`) opens the main window; model work runs in
:class:`tfgnet_desk.gui.worker.BackendWorker` on its own long-lived thread so the window never waits on it.
"""

from __future__ import annotations


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window (imports Qt only when called)."""
    from tfgnet_desk.gui.app import run_app as _run

    return _run(argv)
